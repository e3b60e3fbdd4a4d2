"""The controller app under osken-manager against real OVS switches and shaped
links: forwarding through its flows, and /v1/paths against the configured truth,
with no capacity registered (the controller learns it with packet trains). Closed by
default: no token is given, it makes its own in a 0600 file, and refuses writes
without it; a read from another host neither moves its probes nor its load accounting."""

import json
import re
import stat
import sys
import time
from pathlib import Path

import pytest
import requests

from controller_app.config import ControllerSettings, to_env
from controller_app.tokens import read_token
from experiments.runners.local import free_port
from experiments.runners.progress import wait_until
from topologies.edge_cloud import SERVER_IP, build
from experiments.launcher import REPO, ProcessGroup
from topologies.profiles import NodeProfile

PROFILES = [
    NodeProfile("node-01", 10.0, 30.0, 0.0, 30.0),
    NodeProfile("node-02", 2.0, 10.0, 1.0, 30.0),
    NodeProfile("node-03", 5.0, 60.0, 0.0, 30.0),
]
LOSS_SAMPLES = 3000
OWN_PORT = 8700  # the orchestrator's service port, as the orchestrator names it in its queries


def start_app(procs: ProcessGroup, tmp: Path, ofp: int, **fields) -> tuple[str, Path]:
    """The controller app under osken-manager with the environment `edgeft controller` gives
    it (its settings as one JSON variable) and no token: it makes one in `tmp`/ctl.token.
    Returns its REST URL and that file, once it answers."""
    token_file = tmp / "ctl.token"
    cfg = ControllerSettings(token_file=str(token_file), **fields)
    manager = str(Path(sys.executable).parent / "osken-manager")
    app = str(REPO / "controller_app" / "edge_monitor.py")
    procs.start("controller", ["--ofp-tcp-listen-port", str(ofp), app], program=[manager], env=to_env(cfg))
    url = f"http://127.0.0.1:{cfg.rest_port}"
    wait_until(lambda: requests.get(url + "/v1/health", timeout=1).ok, 30, "the controller's REST API")
    return url, token_file


@pytest.fixture
def controlled(clean_system, tmp_path):
    ofp = free_port()
    procs = ProcessGroup(tmp_path / "logs")
    edge = None
    try:
        url, token_file = start_app(
            procs,
            tmp_path,
            ofp,
            rest_port=free_port(),
            probe_hz=100,
            loss_window=LOSS_SAMPLES,
            train_interval_s=3,
            measure_from=SERVER_IP,
            own_port=OWN_PORT,
        )
        edge = build(PROFILES, domains=3, controller=("127.0.0.1", ofp), run_dir=tmp_path / "net")
        yield edge, url, token_file
    finally:
        if edge is not None:
            edge.stop()
        procs.stop_all()


def _paths(url, **q):
    q = {"src": SERVER_IP, "own_port": OWN_PORT, **q}
    return {p["ip"]: p for p in requests.get(url + "/v1/paths", params=q, timeout=5).json()["paths"]}


def test_forwarding_and_measurements_match_the_configured_links(controlled):
    edge, url, token_file = controlled
    hosts = [edge.server, *edge.hosts.values()]
    for a in hosts:  # every host reaches every other through the controller's flows
        for b in hosts:
            if a is not b:
                assert re.search(r" [1-3] received", a.cmd(f"ping -c 3 -i 0.2 -W 2 {b.IP()}")), (a.name, b.name)
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600  # the token it made itself
    token = read_token(token_file)
    assert requests.put(url + "/v1/links/capacity", json={"links": edge.capacities()}, timeout=5).status_code == 401
    assert requests.post(url + "/v1/reset", timeout=5).status_code == 401
    # A read moves nothing: another host cannot take the probes over, nor have a port's traffic not count as load.
    node = edge.hosts["node-02"].IP()
    assert requests.get(url + "/v1/paths", params={"src": node, "own_port": 22}, timeout=5).status_code == 409
    health = requests.get(url + "/v1/health", timeout=5).json()
    assert (health["measure_from"], health["own_port"]) == (SERVER_IP, OWN_PORT)
    topo = requests.get(url + "/v1/topology", timeout=5).json()
    assert len(topo["switches"]) == 1 + 2 + 3 and len(topo["hosts"]) == 4
    assert requests.get(url + "/v1/paths", params={"src": "banana"}, timeout=5).status_code == 400
    ips = {p.node_id: edge.hosts[p.node_id].IP() for p in PROFILES}
    wait_until(
        lambda: all(_paths(url)[ips[p.node_id]]["samples"] >= LOSS_SAMPLES for p in PROFILES), 120, "probe samples"
    )
    idle = _paths(url)
    for p in PROFILES:
        got = idle[ips[p.node_id]]
        assert got["capacity_source"] == "train" and got["capacity_samples"] >= 3, got  # nothing was registered
        assert abs(got["capacity_mbps"] - p.bandwidth_mbps) <= 0.15 * p.bandwidth_mbps, (p, got)
        assert got["available_mbps"] == got["bandwidth_mbps"] >= 0.8 * got["capacity_mbps"], got  # idle: probes only
        assert abs(got["delay_ms"] - p.delay_ms) <= 2 + 0.05 * p.delay_ms, (p, got)
        assert abs(got["loss_pct"] - p.loss_pct) <= 0.5, (p, got)
        lo, hi = got["loss_ci95_pct"]
        assert lo <= got["loss_pct"] <= hi and hi - lo < 1.5, got
        assert got["updated_at"] > time.time() - 10
    _own_upload_is_not_load(edge, url, ips["node-01"])
    # Load node-01's path with iperf3: its available bandwidth must drop.
    target = edge.hosts["node-01"]
    srv = target.popen(["iperf3", "-s", "-1"])
    try:
        time.sleep(0.5)
        client = edge.server.popen(["iperf3", "-c", target.IP(), "-t", "8"])
        time.sleep(5)
        loaded = _paths(url)[ips["node-01"]]["bandwidth_mbps"]
        client.wait(timeout=30)
    finally:
        srv.kill()
        srv.wait()
    assert loaded < 0.5 * idle[ips["node-01"]]["bandwidth_mbps"], loaded
    # A registered hint overrides what the trains learnt.
    requests.put(
        url + "/v1/links/capacity",
        json={"links": edge.capacities()},
        headers={"Authorization": f"Bearer {token}"},
        timeout=5,
    ).raise_for_status()
    hinted = _paths(url)[ips["node-02"]]
    assert hinted["capacity_source"] == "hint" and hinted["capacity_mbps"] == pytest.approx(2.0), hinted


def _own_upload_is_not_load(edge, url, ip):
    """A node uploading to the orchestrator's service port at its full rate (iperf3 on
    that port stands in for an upload: the controller tells the run's traffic apart by
    addresses and port only) leaves its available bandwidth near its capacity."""
    node = next(h for h in edge.hosts.values() if h.IP() == ip)
    srv = edge.server.popen(["iperf3", "-s", "-1", "-p", str(OWN_PORT)])
    try:
        time.sleep(0.5)
        client = node.popen(["iperf3", "-c", SERVER_IP, "-p", str(OWN_PORT), "-t", "8", "-J"], stdout=-1)
        time.sleep(5)
        during = _paths(url)[ip]
        sent = json.loads(client.communicate(timeout=30)[0])["end"]["sum_received"]["bits_per_second"] / 1e6
    finally:
        srv.kill()
        srv.wait()
    assert sent > 0.8 * during["capacity_mbps"], sent  # the upload really filled the link
    assert during["own_traffic_mbps"]["up"] > 0.5 * during["capacity_mbps"], during
    assert during["available_mbps"] >= 0.8 * during["capacity_mbps"], during
