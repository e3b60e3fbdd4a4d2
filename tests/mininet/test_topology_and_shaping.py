"""Real Mininet + Open vSwitch + link shaping (whichever back end this machine has)."""

import re
import subprocess
import time

import pytest

from topologies.edge_cloud import build
from topologies.profiles import NodeProfile, draw_profiles
from topologies.shaping import LinkShape


def _avg_rtt(server, ip, count=20, interval=0.05) -> float:
    out = server.cmd(f"ping -c {count} -i {interval} -q {ip}")
    return float(re.search(r"= [\d.]+/([\d.]+)/", out).group(1))


def test_twelve_node_setup2_every_edge_host_reaches_the_server(clean_system, tmp_path):
    edge = build(draw_profiles(12, 2, seed=0), controller=None, run_dir=tmp_path)
    try:
        assert len(edge.hosts) == 12
        for node_id, host in edge.hosts.items():
            out = host.cmd(f"ping -c 5 -i 0.2 -W 2 {edge.server.IP()}")
            assert re.search(r" ([1-5]) received", out), (node_id, out)
    finally:
        edge.stop()


def test_a_network_with_a_remote_controller_leaves_no_node_shell_behind(clean_system, tmp_path):
    """Mininet's RemoteController.stop() does nothing, so net.stop() left the controller node's shell
    (`bash ... mininet:c0`, in the root namespace) running until the process exited: one per network a
    process built (seven under one test session, one per run of a sweep)."""
    edge = build(
        [NodeProfile("node-01", 1000.0, 0.0, 0.0, 30.0)], domains=1, controller=("127.0.0.1", 6653), run_dir=tmp_path
    )
    shell = edge.net.controllers[0].shell
    edge.stop()
    try:
        shell.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the controller node's shell (pid {shell.pid}) outlived the network")


@pytest.fixture(params=["c", "python"])
def pair(request, tmp_path, monkeypatch):
    """The server and one edge host behind the usual switch layers, unshaped apart from the
    rate; once with each delay line (the C one, which install.sh builds, and the Python one)."""
    monkeypatch.setenv("EDGEFT_DELAY_LINE", request.param)
    edge = build([NodeProfile("node-01", 1000.0, 0.0, 0.0, 30.0)], domains=1, controller=None, run_dir=tmp_path)
    try:
        yield edge
    finally:
        edge.stop()


def test_shaping_accuracy_rate_delay_loss_and_runtime_change(clean_system, pair):
    server, host = pair.server, pair.hosts["node-01"]
    base_rtt = _avg_rtt(server, host.IP())

    pair.set_shape("node-01", LinkShape(10.0, 0.0, 0.0))
    iperf_server = host.popen(["iperf3", "-s", "-1"])
    try:
        time.sleep(0.5)
        out = server.cmd(f"timeout 30 iperf3 -c {host.IP()} -t 5 -f m")
    finally:
        iperf_server.kill()
        iperf_server.wait()
    rate = float(re.findall(r"([\d.]+) Mbits/sec\s+receiver", out)[-1])
    assert 9.0 <= rate <= 10.5, out

    pair.set_shape("node-01", LinkShape(10.0, 30.0, 0.0))
    time.sleep(0.5)
    added = _avg_rtt(server, host.IP()) - base_rtt
    assert abs(added - 30.0) <= 2.0, added

    pair.set_shape("node-01", LinkShape(10.0, 0.0, 5.0))
    time.sleep(0.5)
    out = server.cmd(f"ping -c 2000 -i 0.002 -q -W 1 {host.IP()}")
    loss = float(re.search(r"([\d.]+)% packet loss", out).group(1))
    assert 3.5 <= loss <= 6.5, out

    pair.set_shape("node-01", LinkShape(10.0, 50.0, 0.0))
    time.sleep(0.5)
    assert abs(_avg_rtt(server, host.IP()) - base_rtt - 50.0) <= 2.5


def test_script_cli_reads_commands_from_stdin(clean_system, tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[2] / "topologies" / "edge_cloud.py"
    proc = subprocess.run(
        [sys.executable, str(script), "--nodes", "4", "--setup", "3", "--standalone", "--cli", "--out", str(tmp_path)],
        input="pingall\nserver ping -c 2 n1\nexit\n",
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "*** Results:" in proc.stdout + proc.stderr
    assert "2 packets transmitted" in proc.stdout + proc.stderr
    truth = __import__("json").loads((tmp_path / "ground_truth.json").read_text())
    assert truth["setup"] == 3 and len(truth["nodes"]) == 4
