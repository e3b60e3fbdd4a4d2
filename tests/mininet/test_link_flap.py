"""A node's link taken down mid-run in Mininet and brought back (experiments/faults.py):
the round fails the node by its heartbeat deadline and goes on, the controller's
figures for the node show the outage, and once the link is back the node re-syncs
and trains again. Nothing is lost and nothing is left behind."""

from experiments.faults import link_flap

VICTIM = "node-03"  # 13.9 Mb/s: its new set-up (3.7 MB of base model) fits in the run


def test_link_down_and_up_mid_run(clean_system, tmp_path):
    r = link_flap(tmp_path / "run", VICTIM, down_at=1, up_at=3, epochs=10)
    epochs = r["epochs"]
    assert len(epochs) == 10 and r["summary"]["epochs"] == 10  # completed, nothing lost
    failed_in = [int(e["epoch"]) for e in epochs if VICTIM in e["failed"].split(";")]
    assert failed_in and failed_in[0] in (1, 2) and r["detected_s"] < 3 + 10  # the first epoch that needed it
    assert r["while_down"] is not None and r["while_down"]["loss_pct"] >= 50, r["while_down"]  # the controller saw it
    later = [int(e["epoch"]) for e in epochs[failed_in[0] + 1 :] if VICTIM in e["active_nodes"].split(";")]
    assert later, "the node never trained again after its link came back"
