"""The controller app stopped mid-run and started again (experiments/faults.py): the
run goes on with the last-known figures marked stale; nothing is lost and nothing is
left behind. NOT YET: fresh figures after the restart (the restarted controller
loses the server host again and answers 404; see README "Not yet"), so this test
checks only what works."""
from experiments.faults import controller_restart


def test_controller_stopped_and_restarted_mid_run(clean_system, tmp_path):
    r = controller_restart(tmp_path / "run", stop_at=1, start_at=3, epochs=6)
    assert len(r["epochs"]) == 6 and r["summary"]["epochs"] == 6 and r["summary"]["failed"] == 0
    by_epoch: dict[int, list[dict]] = {}
    for row in r["node_epochs"]:
        by_epoch.setdefault(int(row["epoch"]), []).append(row)
    stale = [e for e, rows in by_epoch.items() if rows and all(x["metrics_stale"] == "True" for x in rows)]
    assert set(stale) & {1, 2}, stale  # while it was down, the last-known figures, marked stale
    assert all(x["metrics_stale"] == "False" for x in by_epoch[0])  # and before, fresh ones
