"""NE vs AR end to end in Mininet: controller app, shaped topology, orchestrator
and LoRA clients in hosts, results table and plots (a small scenario)."""

import csv
import json

import pytest

from experiments.cli import main
from orchestrator.fidelity import median_rel_err, r_squared

NODES, EPOCHS = 5, 3
# Runs here gave R^2 0.48-0.97 and median errors of 6-14 %. With 5 nodes x 3 epochs (~25 phases) a single
# node moves both a lot: on a 233 ms path an upload after the compute's idle time restarts slow start (+1.1 s,
# twice, in one run: R^2 0.58; CI once read 0.49 for AR beside 0.85 for NE, and once a median error of 20.9 %
# for AR beside 9.0 % for NE, the AR run's slowest node's four phases 1.8-2.8x their prediction). So both are
# checked over the two runs' phases pooled (~38), where they still fail a model that misses the links (R^2 0.30
# before the model knew on which direction loss acts); each run's own median error has only a gross bound (a
# link that was not shaped, or shaped at the wrong rate, is off by far more).
# Pooled median errors of 0.16-0.27 (4 of 12 runs above 0.2) had three causes, found 2026-12-05: the hosts
# ran the machine's BBR (its paced restart keeps a window that the model reset), the orchestrator closed
# connections idle for 5 s of wall time (a dilation artifact: a handshake and fresh windows at k = 2 on one
# node, never at k = 1), and a heartbeat in flight held back the node's next poll. Now the hosts run Reno,
# the keep-alive is 5 s of the emulated world, the heartbeat is not waited for, and the model follows each
# connection's windows (orchestrator/fidelity.py NodeConnection): pooled 0.067 on the first such run.
TRANSFER_R2, TRANSFER_MEDIAN_ERR, RUN_MEDIAN_ERR = 0.5, 0.2, 0.35
# Seed 29, not 0: its slowest set-up is ~15 s of the emulated world; seed 0's 2.4 Mb/s, 222 ms, 1 % loss path
# took ~50 s for the 3.7 MB base, x 2 runs x k = 2, most of this test's 300 s. Its paths span 1-113 ms and
# 3-30 Mb/s, so the transfer phases still spread over an order of magnitude.
SEED = 29


def _rows(path):
    with path.open() as fh:
        return list(csv.DictReader(fh))


def test_ne_and_ar_complete_with_controller_metrics(clean_system, tmp_path):
    out = tmp_path / "cmp"
    # k = 2: links are shaped at rate / 2 and delay x 2, and every figure below must come back in
    # the emulated world's units (controller delays and bandwidths, transfer phases).
    rc = main(
        [
            "compare",
            "--nodes",
            str(NODES),
            "--setups",
            "2",
            "--policies",
            "ne,ar",
            "--epochs",
            str(EPOCHS),
            "--seeds",
            str(SEED),
            "--out",
            str(out),
            "--dilation",
            "2",
        ]
    )
    assert rc == 0
    results = _rows(out / "results.csv")
    assert {r["policy"] for r in results} == {"ne", "ar"}
    pooled = []
    for r in results:
        run = out / f"n{NODES}-setup2-seed{SEED}-{r['policy']}"
        summary = json.loads((run / "summary.json").read_text())
        assert summary["metrics_source"] == "controller" and summary["failed"] == 0
        # the TCP the fidelity model predicts, pinned on the hosts' routes whatever the machine's default
        assert json.loads((run / "config.json").read_text())["tcp"]["congestion_control"] == "reno"
        assert float(r["completion_time_s"]) == summary["completion_time_s"] > 0
        assert summary["final_val_loss"] < summary["pre_training_loss"]
        truth = {n["node_id"]: n for n in json.loads((run / "ground_truth.json").read_text())["nodes"]}
        first = [row for row in _rows(run / "node_epochs.csv") if row["epoch"] == "0"]
        assert len(first) == NODES
        for row in first:  # the scores used the controller's live figures of the drawn network
            t = truth[row["node_id"]]
            assert row["metrics_stale"] == "False"
            # the configured delay is a floor; traffic adds queueing (bounded buffers: ~100 ms of data)
            assert t["delay_ms"] * 0.95 - 2 <= float(row["delay_ms"]) <= t["delay_ms"] + 250
            # learned by the controller's trains, nothing registered (docs/controller.md)
            assert 0 < float(row["bandwidth_mbps"]) <= float(row["capacity_mbps"]) <= 1.15 * t["bandwidth_mbps"]
            assert row["missing_figures"] == "", row
        measured = {row["node_id"]: float(row["delay_ms"]) for row in first}
        near = min(truth.values(), key=lambda t: t["delay_ms"])["node_id"]
        far = max(truth.values(), key=lambda t: t["delay_ms"])["node_id"]
        assert measured[near] < measured[far]
        nodes = _rows(run / "nodes.csv")
        assert all(n["final_digest_matches"] == "True" for n in nodes)  # eliminated nodes included
        # The fidelity columns are in the row and hold: the host kept every compute window,
        # and the transfer phases are what the drawn links predict.
        fid = json.loads((run / "fidelity.json").read_text())
        assert float(r["dilation"]) == fid["dilation"] == summary["dilation"] == 2.0
        assert float(r["overrun_share"]) == pytest.approx(fid["overrun_share"]) and fid["overrun_share"] <= 0.05
        assert r["fidelity_ok"] == "True" and fid["transfers"] == "measured" and fid["transfer_phases"] >= 2 * NODES
        assert float(r["transfer_r2"]) == pytest.approx(fid["transfer_r2"])
        assert fid["transfer_median_rel_err"] <= RUN_MEDIAN_ERR
        transfers = [(float(p["measured_s"]), float(p["predicted_s"])) for p in _rows(run / "transfers.csv")]
        assert len(transfers) == fid["transfer_phases"] and {p["direction"] for p in _rows(run / "transfers.csv")} == {
            "download",
            "upload",
        }
        assert r_squared(*zip(*transfers)) == pytest.approx(
            fid["transfer_r2"], abs=0.01
        )  # the file holds the figure's points
        pooled += transfers
        phases = [
            (float(row["train_time_declared_s"]), float(row["compute_wall_s"]))  # the declared window
            for row in _rows(run / "node_epochs.csv")
            if row["train_time_declared_s"]
        ]
        assert sum(w > 1.05 * t + 0.05 for t, w in phases) <= 0.05 * len(phases)
    assert r_squared(*zip(*pooled)) >= TRANSFER_R2, pooled
    assert median_rel_err(*zip(*pooled)) <= TRANSFER_MEDIAN_ERR, pooled
    ne_epochs = _rows(out / f"n{NODES}-setup2-seed{SEED}-ne" / "epochs.csv")
    per_epoch = (NODES - 1) // (EPOCHS - 1)
    assert [len([x for x in r["eliminated"].split(";") if x]) for r in ne_epochs] == [per_epoch] * (EPOCHS - 1) + [0]
    summary_md = (out / "summary.md").read_text()
    ne = next(r for r in results if r["policy"] == "ne")
    assert f"{float(ne['completion_time_s']):.1f}" in summary_md
    assert "transfer R²" in summary_md and "| k |" in summary_md
    for png in ("completion_time.png", "loss_per_epoch.png"):
        assert (out / png).stat().st_size > 5000
