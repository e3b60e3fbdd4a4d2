"""The controller app stopped mid-run and started again (experiments/faults.py): the
run goes on with the last-known figures marked stale, and uses fresh ones again once
the controller is back. Nothing is lost and nothing is left behind."""
from experiments.faults import controller_restart


def test_controller_stopped_and_restarted_mid_run(clean_system, tmp_path):
    r = controller_restart(tmp_path / "run", stop_at=1, start_at=3, epochs=6)
    assert len(r["epochs"]) == 6 and r["summary"]["epochs"] == 6 and r["summary"]["failed"] == 0
    by_epoch: dict[int, list[dict]] = {}
    for row in r["node_epochs"]:
        by_epoch.setdefault(int(row["epoch"]), []).append(row)
    stale = [e for e, rows in by_epoch.items() if rows and all(x["metrics_stale"] == "True" for x in rows)]
    fresh_after = [e for e, rows in by_epoch.items() if e > 3 and all(x["metrics_stale"] == "False" and x["bandwidth_mbps"] for x in rows)]
    assert set(stale) & {1, 2}, stale  # while it was down, the last-known figures, marked stale
    assert fresh_after, by_epoch.keys()  # after it came back, measured figures again
