"""The "paper volumes" option really moves the padded bytes (real HTTP, real clients)."""

import json
import subprocess

import pytest
from experiments.runners.local import local_command

pytestmark = pytest.mark.integration


def test_paper_volumes_pad_setup_and_every_epoch(tmp_path):
    scale, nodes, epochs = 0.001, 3, 2
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(f"paper_volumes: {scale}\n")
    out = tmp_path / "run"
    cmd = local_command(
        str(out), "--no-emulate-compute", config=cfg, nodes=nodes, epochs=epochs, policy="ar", timeout="300"
    )
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=400)
    assert proc.returncode == 0, proc.stderr[-2000:]
    s = json.loads((out / "summary.json").read_text())
    model, data = 500e6 * scale, 1000e6 * scale
    down = nodes * (model + data / nodes) + epochs * nodes * model  # set-up + a parameter sync per epoch
    up = epochs * nodes * model  # a gradient upload per node and epoch
    assert s["paper_volumes"] == scale
    assert s["bytes_out"] >= down and s["bytes_in"] >= up
    assert s["bytes_in"] < up + 5e6  # padding plus the real (small) adapter gradients, nothing more


def test_paper_volumes_under_ne_with_an_eliminated_node_far_behind(tmp_path):
    """NE with padded transfers, one node whose padding moves at 0.4 Mb/s: about 10 s per
    parameter sync against ~1 s epochs. (The throttle is a client-side stand-in for a slow
    link, `--padding-mbps`: on loopback nothing else makes a link slow; the Mininet compare
    test is the real case.) It is eliminated first, falls behind on every sync, and must
    never get a 404, never exit, and end holding the final parameters like everyone else."""
    import csv

    from experiments.runners.loopback import LoopbackRun

    nodes, epochs, scale = 7, 6, 0.001  # 500 kB of parameter padding per sync
    run = LoopbackRun(
        tmp_path / "run",
        {
            "nodes": nodes,
            "policy": "ne",
            "paper_volumes": scale,
            "training": {"epochs": epochs},
            "timeouts": {"sync_s": 120},
        },
    )
    try:
        run.start_orchestrator()
        for i in range(1, nodes):
            run.start_client(f"node-{i:02d}", f"node-{i:02d}", "--compute-power", "50")
        run.start_client(
            "node-07", "node-07", "--compute-power", "3", "--padding-mbps", "0.4"
        )  # weakest: eliminated first
        rc = run.finish(600)
    finally:
        run.procs.stop_all()
    assert rc == 0, run.log("orchestrator")[-3000:]
    first = list(csv.DictReader((tmp_path / "run" / "epochs.csv").open()))[0]
    assert "node-07" in first["eliminated"].split(";")
    slow = run.log("node-07")
    # "answered 404" is how a 404 reads in a client log; a bare "404" also matches a timestamp's milliseconds
    assert "answered 404" not in slow and "Traceback" not in slow and "stop received" in slow
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["final_sync_missing"] == {} and summary["failed"] == 0
    with (tmp_path / "run" / "nodes.csv").open() as fh:
        assert all(r["final_digest_matches"] == "True" for r in csv.DictReader(fh))
