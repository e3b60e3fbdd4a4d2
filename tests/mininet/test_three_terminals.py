"""The three-terminal workflow, as a user runs it: the controller app in one
process, the topology script with its CLI in another (stdin a pipe that stays
open), and `edgeft compare --attach` in a third. The controller is given no token:
it makes one in its token file, the topology script names that file in its
description, and `compare --attach` reads the token from there."""

import csv
import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import requests

from controller_app.tokens import read_token
from experiments.runners.local import free_port
from experiments.runners.progress import wait_until
from topologies.edge_cloud import SERVER_IP
from experiments.launcher import REPO, ProcessGroup

NODES, EPOCHS = 5, 3


class Topology:
    """topologies/edge_cloud.py --cli, fed through a pipe; its output goes to a file."""

    def __init__(self, tmp: Path, ofp: int, rest: int, nodes: int, *extra: str) -> None:
        token_file = tmp / "ctl.token"  # the controller's (fixture below): named to the topology, never the token
        self.out_path = tmp / "topology.out"
        self.describe = tmp / "edgeft-net.json"
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "topologies/edge_cloud.py",
                "--nodes",
                str(nodes),
                "--controller-port",
                str(ofp),
                "--controller-rest",
                f"http://127.0.0.1:{rest}",
                "--controller-token-file",
                str(token_file),
                "--describe",
                str(self.describe),
                "--out",
                str(tmp / "net"),
                "--cli",
                *extra,
            ],
            cwd=REPO,
            stdin=subprocess.PIPE,
            stdout=self.out_path.open("w"),
            stderr=subprocess.STDOUT,
            text=True,
        )

    def send(self, line: str) -> None:
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def output(self) -> str:
        return self.out_path.read_text()

    def close(self) -> None:
        if self.proc.poll() is None:
            self.send("exit")
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.terminate()
                self.proc.wait(timeout=30)


def _compare(*args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "experiments.cli", "compare", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture
def controller(clean_system, tmp_path):
    ofp, rest = free_port(), free_port()
    procs = ProcessGroup(tmp_path / "logs")
    token_file = tmp_path / "ctl.token"  # none given: the controller makes one there, mode 0600
    procs.start(
        "controller",
        ["controller", "--ofp-port", str(ofp), "--rest-port", str(rest), "--token-file", str(token_file)],
    )
    url = f"http://127.0.0.1:{rest}"
    try:
        wait_until(lambda: requests.get(url + "/v1/health", timeout=1).ok, 30, "the controller's REST API")
        yield procs, ofp, rest, url
    finally:
        procs.stop_all()


def test_ne_and_ar_run_in_a_network_started_in_another_terminal(controller, tmp_path):
    procs, ofp, rest, url = controller
    # Seed 29: a draw whose slowest set-up is ~15 s of the emulated world. The default seed 0 has a 2.4 Mb/s,
    # 222 ms, 1 % loss path whose 3.7 MB set-up took ~50 s, x 2 runs x k = 2: most of this test's 330 s.
    topo = Topology(tmp_path, ofp, rest, NODES, "--dilation", "2", "--seed", "29")
    try:
        wait_until(lambda: topo.describe.exists(), 120, "the network description")
        net = json.loads(topo.describe.read_text())
        assert len(net["hosts"]) == NODES and net["dilation"] == 2.0 and net["controller"]["rest"] == url
        token = read_token(tmp_path / "ctl.token")
        assert net["controller"]["token_file"] == str(tmp_path / "ctl.token") and token not in topo.describe.read_text()
        assert (
            {h["node_id"] for h in net["hosts"]}
            == set(net["links"])
            == {n["node_id"] for n in net["ground_truth"]["nodes"]}
        )
        shutil.copy(topo.describe, tmp_path / "kept.json")
        _sigterm_stops_only_the_experiment(topo, tmp_path / "cut")
        out = tmp_path / "cmp"
        done = _compare(
            "--attach",
            str(topo.describe),
            "--nodes",
            str(NODES),
            "--policies",
            "ne,ar",
            "--epochs",
            str(EPOCHS),
            "--out",
            str(out),
        )
        assert done.returncode == 0, done.stderr[-3000:]
        results = list(csv.DictReader((out / "results.csv").open()))
        assert {r["policy"] for r in results} == {"ne", "ar"}
        assert all((out / f).exists() for f in ("summary.md", "completion_time.png", "loss_per_epoch.png"))
        truth = {n["node_id"]: n for n in net["ground_truth"]["nodes"]}
        for r in results:
            run = Path(r["run_dir"])
            summary = json.loads((run / "summary.json").read_text())
            assert summary["metrics_source"] == "controller" and summary["failed"] == 0 and summary["dilation"] == 2.0
            assert json.loads((run / "ground_truth.json").read_text()) == net["ground_truth"]  # the network's own draw
            first = [row for row in csv.DictReader((run / "node_epochs.csv").open()) if row["epoch"] == "0"]
            assert len(first) == NODES
            for row in first:  # live figures of this network, measured by the controller of terminal 1
                t = truth[row["node_id"]]
                assert row["metrics_stale"] == "False" and row["missing_figures"] == "", row
                assert t["delay_ms"] * 0.95 - 2 <= float(row["delay_ms"]) <= t["delay_ms"] + 250
                assert 0 < float(row["capacity_mbps"]) <= 1.15 * t["bandwidth_mbps"]
        # The network outlived the experiment: every edge host still reaches the server from the CLI.
        for i, h in enumerate(net["hosts"], 1):  # one at a time: the CLI hands what is typed during a command to it
            topo.send(f"{h['name']} ping -c 3 -W 2 {SERVER_IP}")
            wait_until(
                lambda: len(re.findall(r"\d+ packets transmitted", topo.output())) >= i, 30, f"{h['name']}'s pings"
            )
        received = [int(x) for x in re.findall(r"packets transmitted, (\d+) received", topo.output())]
        assert len(received) == NODES and all(x >= 1 for x in received), received
        # Refusals, one line each, exit 2.
        wrong = _compare(
            "--attach", str(topo.describe), "--nodes", str(NODES - 1), "--epochs", "1", "--out", str(tmp_path / "x")
        )
        assert (
            wrong.returncode == 2
            and f"has {NODES} edge nodes" in wrong.stderr
            and len(wrong.stderr.strip().splitlines()) == 1
        )
        procs.stop("controller")
        dead = _compare("--attach", str(topo.describe), "--epochs", "1", "--out", str(tmp_path / "y"))
        assert dead.returncode == 2 and "does not answer" in dead.stderr and len(dead.stderr.strip().splitlines()) == 1
    finally:
        topo.close()
    assert not topo.describe.exists()  # removed with the network
    stale = _compare("--attach", str(tmp_path / "kept.json"), "--epochs", "1", "--out", str(tmp_path / "z"))
    assert stale.returncode == 2 and "is gone" in stale.stderr and len(stale.stderr.strip().splitlines()) == 1


def _ours(run_dir: Path) -> list[str]:
    """Processes whose command line names this experiment's folder (orchestrator, client pool).
    (psutil, not ps: ps cuts its lines to $COLUMNS, which pytest sets.)"""
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        line = " ".join(proc.info["cmdline"] or [])
        if str(run_dir) in line:
            found.append(line)
    return found


def _sigterm_stops_only_the_experiment(topo: Topology, out: Path) -> None:
    """SIGTERM to the experiment mid-run tears down what it started, and only that: the
    network and its CLI stay up (and answer) for the next experiment."""
    out.mkdir()
    log = out.parent / "cut.log"
    exp = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "experiments.cli",
            "compare",
            "--attach",
            str(topo.describe),
            "--policies",
            "ar",
            "--epochs",
            "10",
            "--out",
            str(out),
        ],
        cwd=REPO,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )
    try:
        wait_until(lambda: len(_ours(out)) >= 3, 300, "the experiment's orchestrator and clients")
        exp.terminate()
        assert exp.wait(timeout=60) != 0, log.read_text()[-2000:]
    finally:
        if exp.poll() is None:
            exp.kill()
    wait_until(lambda: not _ours(out), 30, "the experiment's processes to go")
    assert topo.proc.poll() is None and topo.describe.exists()


def test_hosts_are_known_seconds_after_their_first_packet(controller, tmp_path):
    _, ofp, rest, url = controller
    topo = Topology(tmp_path, ofp, rest, 6)
    try:
        topo.send("pingall")  # queued before the CLI opens: sent the moment it does
        wait_until(lambda: " -> " in topo.output(), 120, "pingall's first reply")
        first_reply = time.monotonic()

        def known() -> bool:
            hosts = {h["ip"] for h in requests.get(url + "/v1/topology", timeout=2).json()["hosts"]}
            paths = requests.get(url + "/v1/paths", params={"src": SERVER_IP}, timeout=2)
            return len(hosts) >= 7 and paths.ok and len(paths.json()["paths"]) >= 6

        wait_until(known, 10, "every host in /v1/topology and /v1/paths")
        assert time.monotonic() - first_reply <= 10
    finally:
        topo.close()
