"""Whole simulated epochs on the drawn 12-node networks of Setups 1-3 (the Mininet runs' size): every
phase lasts at least what the link alone allows (orchestrator/fidelity.py), sharing only slows, and the
barrier is the slowest active node. One child process per simulation (simulator/run_epoch.py)."""

import pytest

from orchestrator import fidelity
from simulator import run_epoch, topology
from simulator.phases import NodeEpoch
from simulator.transfers import EpochPlan

pytestmark = pytest.mark.integration
pytest.importorskip("simgrid", reason="SimGrid (python3-simgrid) is installed by scripts/install.sh")

ADAPTER, PAD = 64_000, 2_000_000  # the built-in model's adapter; paper volumes x 0.004


@pytest.mark.parametrize("setup", [1, 2, 3])
def test_twelve_node_epochs_never_beat_the_lone_link(setup):
    topo = topology.from_setup(12, setup, 0)
    ids = [n.node_id for n in topo.nodes]
    benched = set(ids[:3])

    def epoch(first: bool) -> EpochPlan:
        return EpochPlan(
            tuple(
                NodeEpoch(
                    i,
                    first or i not in benched,
                    0 if first else ADAPTER,
                    0 if first else PAD,
                    20.0,
                    ADAPTER,
                    PAD,
                    upload_cwnd=fidelity.INIT_CWND,  # uploads after a compute window: fresh (fidelity.py)
                )
                for i in ids
            ),
            server_s=1.0,
        )

    answer = run_epoch.run(topo, [epoch(True), epoch(False), epoch(False)])
    for index, times in enumerate(answer["epochs"]):
        slowest = 0.0
        for node_id, got in times["nodes"].items():
            link = topo.node(node_id).figures
            active = index == 0 or node_id not in benched
            if index > 0:
                assert got["download_s"] >= fidelity.predict_download_s(ADAPTER, PAD, link) * 0.999
            if active:
                alone = fidelity.predict_upload_s(ADAPTER, PAD, link, after_sync=index > 0)
                assert got["upload_s"] >= alone * 0.999
                assert got["compute_s"] == pytest.approx(20.0, abs=1e-9)
                slowest = max(slowest, got["delayed_s"] + got["download_s"] + got["compute_s"] + got["upload_s"])
            else:
                assert got["upload_s"] == 0.0 and got["wait_s"] is None
        assert times["round_s"] == pytest.approx(slowest, rel=1e-9)
        assert times["epoch_s"] == pytest.approx(times["round_s"] + 1.0, rel=1e-9)
