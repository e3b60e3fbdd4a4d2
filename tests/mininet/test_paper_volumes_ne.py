"""Paper volumes under NE in Mininet (the reliability issue's real case): eliminated
nodes on slow shaped links keep receiving every epoch's padded parameters, fall
behind, and must still end holding the final adapter; no client gets a 404 or dies."""

import csv
import json

from experiments.cli import main


def test_ne_with_paper_volumes_keeps_every_node_in_sync(clean_system, tmp_path):
    out = tmp_path / "pv"
    rc = main(
        [
            "compare",
            "--nodes",
            "6",
            "--setups",
            "2",
            "--policies",
            "ne",
            "--epochs",
            "4",
            "--seeds",
            "0",
            "--out",
            str(out),
            "--dilation",
            "2",
            "--paper-volumes",
            "0.001",
        ]
    )
    assert rc == 0
    run = out / "n6-setup2-seed0-ne"
    summary = json.loads((run / "summary.json").read_text())
    assert summary["failed"] == 0 and summary["final_sync_missing"] == {} and summary["paper_volumes"] == 0.001
    with (run / "nodes.csv").open() as fh:
        nodes = list(csv.DictReader(fh))
    assert len(nodes) == 6 and all(n["final_digest_matches"] == "True" for n in nodes)
    assert (
        sum(n["final_status"] == "eliminated" for n in nodes) >= 3
    )  # NE benched most of them: they synced all the same
    for log in (run / "logs").glob("node-*.log"):
        text = log.read_text()
        assert (
            "answered 404" not in text and "Traceback" not in text and "stop received" in text
        ), log.name  # not a ",404" ms stamp
