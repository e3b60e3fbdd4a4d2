"""One identity per node (issue 25, items 2 and 3), in-process against the real API:
a taken id cannot be enrolled by another party, a token derived from the run token
(the old HMAC(run token, id)) enrols and authenticates nobody, a node failed for an
invalid upload stays failed, enrolments are capped, a declared IP is never what the
figures are looked up by, and a compute power outside the configured range is refused."""

import hashlib
import hmac
import json
import os
import stat
import subprocess
import sys

import pytest
from fastapi.testclient import TestClient

from orchestrator.api import create_app
from orchestrator.config import OrchestratorConfig
from orchestrator.coordinator import Coordinator
from orchestrator.credentials import LIST_NAME, Credentials, provision
from orchestrator.registry import NodeStatus, Registry
from orchestrator.results import Recorder

RUN = "runtok"


def _client(tmp_path, credentials: Credentials | None = None, **cfg) -> tuple[TestClient, Coordinator]:
    conf = OrchestratorConfig(**{"nodes": 2, "policy": "ar", **cfg})
    registry = Registry(credentials=credentials, capacity=conf.nodes + conf.enrolment.spares)
    coord = Coordinator(conf, registry, Recorder(tmp_path / "rec", {}, 0), RUN)
    return TestClient(create_app(coord)), coord


def _enrol(client, node_id, secret=RUN, power=30.0, **headers):
    return client.post(
        "/v1/enroll",
        json={"node_id": node_id, "compute_power": power, **({"ip": headers.pop("ip")} if "ip" in headers else {})},
        headers={"Authorization": f"Bearer {secret}", "X-Node-Id": node_id, **headers},
    )


def test_a_taken_id_is_refused_to_another_party_and_kept_by_its_holder(tmp_path):
    client, coord = _client(tmp_path)
    first = _enrol(client, "node-01", power=10)
    assert first.status_code == 200
    token = first.json()["node_token"]
    thief = _enrol(client, "node-01", power=999)  # the run token alone, as every node holds it
    assert thief.status_code == 409 and "taken" in thief.json()["detail"]
    assert coord.registry.nodes["node-01"].compute_power == 10  # nothing of the record was overwritten
    again = _enrol(client, "node-01", power=10, **{"X-Node-Token": token})  # the holder, restarted in-process
    assert again.status_code == 200 and again.json()["node_token"] == token


def test_a_token_derived_from_the_run_token_is_refused(tmp_path):
    derived = hmac.new(RUN.encode(), b"node-01", hashlib.sha256).hexdigest()  # the old node token
    client, coord = _client(tmp_path)
    assert _enrol(client, "node-01").status_code == 200
    r = client.post("/v1/heartbeat", headers={"Authorization": f"Bearer {derived}", "X-Node-Id": "node-01"})
    assert r.status_code == 401
    assert _enrol(client, "node-01", **{"X-Node-Token": derived}).status_code == 409


def test_provisioned_nodes_enrol_with_their_own_secret_only(tmp_path):
    files = provision(tmp_path / "creds", ["node-01", "node-02"])
    creds = Credentials.load(tmp_path / "creds" / LIST_NAME)
    client, _ = _client(tmp_path, creds)
    own = files["node-01"].read_text().strip()
    other = files["node-02"].read_text().strip()
    derived = hmac.new(RUN.encode(), b"node-01", hashlib.sha256).hexdigest()
    assert _enrol(client, "node-01", RUN).status_code == 401  # the run token enrols nobody here
    assert _enrol(client, "node-01", derived).status_code == 401
    assert _enrol(client, "node-01", other).status_code == 401  # node-02 cannot take node-01's place
    assert _enrol(client, "node-09", own).status_code == 401  # not provisioned
    first = _enrol(client, "node-01", own)
    assert first.status_code == 200
    assert _enrol(client, "node-01", own).json()["node_token"] == first.json()["node_token"]  # a restarted holder


def test_a_node_failed_for_an_invalid_upload_stays_failed(tmp_path):
    client, coord = _client(tmp_path)
    tokens = {n: _enrol(client, n).json()["node_token"] for n in ("node-01", "node-02")}
    bad, silent = coord.registry.nodes["node-01"], coord.registry.nodes["node-02"]
    bad.status, bad.fail_reason, bad.may_return = NodeStatus.FAILED, "update not finite", False
    silent.status, silent.fail_reason, silent.may_return = NodeStatus.FAILED, "heartbeat timeout", True
    r = _enrol(client, "node-01", **{"X-Node-Token": tokens["node-01"]})
    assert r.status_code == 403 and "update not finite" in r.json()["detail"]
    assert bad.status == NodeStatus.FAILED
    assert _enrol(client, "node-02", **{"X-Node-Token": tokens["node-02"]}).status_code == 200  # silence may return


def test_enrolments_are_capped_at_nodes_plus_spares(tmp_path):
    client, coord = _client(tmp_path, enrolment={"spares": 1})
    answers = [_enrol(client, f"made-up-{i}").status_code for i in range(20)]
    assert answers[:3] == [200, 200, 200] and set(answers[3:]) == {403}
    assert len(coord.registry.nodes) == 3
    assert "at most 3 nodes" in _enrol(client, "one-more").json()["detail"]


def test_the_declared_ip_is_recorded_but_the_connection_decides(tmp_path):
    client, coord = _client(tmp_path)
    assert _enrol(client, "node-01", ip="10.0.0.7").status_code == 200  # another node's address
    node = coord.registry.nodes["node-01"]
    assert node.ip == "testclient" and node.declared_ip == "10.0.0.7"  # TestClient's connection address


def test_a_provisioned_ip_wins_over_the_connection(tmp_path):
    files = provision(tmp_path / "creds", ["node-01"])
    listing = json.loads((tmp_path / "creds" / LIST_NAME).read_text())
    listing["nodes"]["node-01"]["ip"] = "10.0.0.3"
    (tmp_path / "creds" / LIST_NAME).write_text(json.dumps(listing))
    client, coord = _client(tmp_path, Credentials.load(tmp_path / "creds" / LIST_NAME))
    assert _enrol(client, "node-01", files["node-01"].read_text().strip(), ip="10.0.0.9").status_code == 200
    assert coord.registry.nodes["node-01"].ip == "10.0.0.3"


@pytest.mark.parametrize("power", [1e6, 0.001])
def test_compute_power_outside_the_range_is_refused(tmp_path, power):
    client, coord = _client(tmp_path, enrolment={"compute_power_min": 0.01, "compute_power_max": 1000})
    r = _enrol(client, "node-01", power=power)
    assert r.status_code == 422
    assert "compute_power" in r.json()["detail"] and "[0.01, 1000]" in r.json()["detail"]
    assert coord.registry.nodes == {}


def test_a_body_naming_another_node_than_the_header_is_refused(tmp_path):
    client, _ = _client(tmp_path)
    r = client.post(
        "/v1/enroll",
        json={"node_id": "node-02", "compute_power": 3},
        headers={"Authorization": f"Bearer {RUN}", "X-Node-Id": "node-01"},
    )
    assert r.status_code == 400


def test_provision_writes_private_files_and_only_hashes(tmp_path):
    out = tmp_path / "kit"
    r = subprocess.run(
        [sys.executable, "-m", "experiments.cli", "provision", "--nodes", "3", "--out", str(out)],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stderr
    listing = (out / LIST_NAME).read_text()
    for name in ("node-01.token", "node-02.token", "node-03.token", LIST_NAME):
        assert stat.S_IMODE(os.stat(out / name).st_mode) == 0o600, name
    for node in ("node-01", "node-02", "node-03"):
        secret = (out / f"{node}.token").read_text().strip()
        assert secret not in listing and hashlib.sha256(secret.encode()).hexdigest() in listing
    ids = subprocess.run(
        [sys.executable, "-m", "experiments.cli", "provision", "--ids", "a,b", "--out", str(tmp_path / "k2")],
        capture_output=True,
        text=True,
    )
    assert ids.returncode == 0 and sorted(p.name for p in (tmp_path / "k2").iterdir()) == [
        "a.token",
        "b.token",
        LIST_NAME,
    ]
    bad = subprocess.run(
        [sys.executable, "-m", "experiments.cli", "provision", "--ids", "a,a", "--out", str(tmp_path / "k3")],
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "distinct" in bad.stderr


def test_a_non_ascii_token_is_refused_not_a_server_error(tmp_path):
    """compare_digest raises TypeError on a str with non-ASCII characters: a Latin-1 header gave 500."""
    client, _ = _client(tmp_path)
    assert _enrol(client, "node-01").status_code == 200
    latin = "t\u00e9st".encode()  # raw header bytes: the server decodes them as Latin-1
    beat = client.post("/v1/heartbeat", headers={"Authorization": b"Bearer " + latin, "X-Node-Id": b"node-01"})
    assert beat.status_code == 401
    again = client.post(
        "/v1/enroll",
        json={"node_id": "node-01", "compute_power": 30.0},
        headers={"Authorization": f"Bearer {RUN}".encode(), "X-Node-Id": b"node-01", "X-Node-Token": latin},
    )
    assert again.status_code == 409
