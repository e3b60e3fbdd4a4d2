"""The network description the topology script writes and `compare --attach` reads:
every refusal names the fix, in one message."""

import json
import os

import pytest

from edgeft.config_files import ConfigError
from experiments.runners.attached import load_network
from topologies import description


def _desc(pid: int, hosts: int = 3) -> dict:
    return {
        "format": 1,
        "topology_pid": pid,
        "setup": 2,
        "seed": 0,
        "dilation": 1.0,
        "controller": {"rest": "http://127.0.0.1:1", "rest_from_server": "http://10.254.0.1:1"},
        "server": {"name": "server", "ip": "10.0.0.1", "pid": pid},
        "hosts": [
            {"node_id": f"node-{i:02d}", "name": f"n{i}", "ip": f"10.1.0.{i + 1}", "pid": pid}
            for i in range(1, hosts + 1)
        ],
        "ground_truth": {"nodes": []},
        "links": {},
    }


def test_a_live_description_loads(tmp_path):
    path = tmp_path / "net.json"
    description.write(path, _desc(os.getpid()))
    assert description.load(path)["hosts"][0]["name"] == "n1"


@pytest.mark.parametrize(
    "content,fragment",
    [(None, "no such file"), ("{not json", "not a network description"), ('{"format": 1}', "not a format-1")],
)
def test_missing_or_malformed_files_are_refused(tmp_path, content, fragment):
    path = tmp_path / "net.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(description.DescriptionError, match=fragment) as err:
        description.load(path)
    assert "topologies/edge_cloud.py" in str(err.value)  # names the fix


def test_a_network_that_is_gone_is_refused(tmp_path):
    path = tmp_path / "net.json"
    dead = 2**22 + 12345  # above the default pid_max: no such process
    path.write_text(json.dumps(_desc(dead)))
    with pytest.raises(description.DescriptionError, match="is gone"):
        description.load(path)


def test_attach_refuses_new_draws_and_a_wrong_node_count(tmp_path):
    path = tmp_path / "net.json"
    description.write(path, _desc(os.getpid(), hosts=3))
    with pytest.raises(ConfigError, match="--setups and --seeds"):
        load_network(str(path), None, [2], None)
    with pytest.raises(ConfigError, match="has 3 edge nodes; drop --nodes or pass --nodes 3"):
        load_network(str(path), [12], None, None)
    with pytest.raises(ConfigError, match="does not answer"):  # nothing listens on port 1
        load_network(str(path), [3], None, None)
