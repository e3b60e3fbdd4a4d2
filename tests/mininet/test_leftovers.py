"""A topology process killed with SIGKILL (no net.stop()) must not break the next run:
the next build removes the dead run's bridges and veths, and the delay lines of the
dead run exit with it."""

import subprocess
import sys
from pathlib import Path

from experiments.runners.progress import wait_until
from topologies import leftovers
from topologies.edge_cloud import build
from topologies.profiles import NodeProfile

REPO = Path(__file__).resolve().parents[2]


def _procs_mentioning(text: str) -> list[str]:
    out = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if text in line]


def test_a_killed_run_leaves_nothing_that_stops_the_next(clean_system, tmp_path):
    dead_dir = tmp_path / "killed"
    proc = subprocess.Popen(
        [
            sys.executable,
            "topologies/edge_cloud.py",
            "--nodes",
            "2",
            "--domains",
            "1",
            "--standalone",
            "--cli",
            "--out",
            str(dead_dir),
        ],
        cwd=REPO,
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until(lambda: (dead_dir / "ground_truth.json").exists(), 60, "the first network")
        assert leftovers.bridge_owners().get("s1") == leftovers.owner_tag(proc.pid)
    finally:
        proc.kill()
        proc.wait()
    # the fault really happened: the dead run's switch and veths are still there
    assert "s1" in leftovers.bridge_owners()
    assert any(link["ifname"].startswith("s1-eth") for link in leftovers.root_links())
    wait_until(lambda: not _procs_mentioning(str(dead_dir)), 15, "the dead run's delay lines to exit")

    edge = build([NodeProfile("node-01", 50.0, 1.0, 0.0, 30.0)], domains=1, controller=None, run_dir=tmp_path / "next")
    try:
        server, host = edge.server, edge.hosts["node-01"]
        assert " 0% packet loss" in server.cmd(f"ping -c 2 -i 0.2 -W 2 {host.IP()}")
        assert leftovers.bridge_owners()["s1"] == leftovers.owner_tag()
    finally:
        edge.stop()
    assert not [b for b in leftovers.bridge_owners() if b in ("s1", "a1", "g1")]


def test_a_foreign_name_clash_is_a_clear_error(clean_system):
    """An untagged interface with one of our names is not ours to delete: refuse with the fix."""
    subprocess.run(["ip", "link", "add", "g1-eth9", "type", "veth", "peer", "name", "eft-peer9"], check=True)
    try:
        try:
            leftovers.ensure_free(["s1", "g1"])
        except leftovers.NameClash as err:
            assert "g1-eth9" in str(err) and "mn -c" in str(err)
        else:
            raise AssertionError("a clash with a foreign interface went unnoticed")
        assert "g1-eth9" in [link["ifname"] for link in leftovers.root_links()]
    finally:
        subprocess.run(["ip", "link", "del", "g1-eth9"])
