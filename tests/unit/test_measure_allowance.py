"""The transfer allowance of the measured training time (orchestrator/rounds.py): what is
taken off (task hand-out, result body complete) for the node's transfers. Honest nodes of a
real Mininet run (tests/fixtures/run_folders/mininet-4n, links down to 0.61 Mb/s and up to
162 ms) stay within the tolerance under the rule; without the link figures the slowest
node's upload would count as training time and get it flagged."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from edgeft.clock import Clock
from edgeft.link_figures import LinkFigures
from orchestrator.fidelity import transfer_s
from orchestrator.rounds import (
    NO_LINK_ALLOWANCE_S,
    Transfer,
    measured_train_time,
    train_time_flagged,
    transfer_allowance,
    usable_link,
)

RUNS = Path(__file__).parents[1] / "fixtures" / "run_folders" / "mininet-4n"
TOLERANCE, SLACK_S = 0.25, 0.1  # enrolment.train_time_tolerance / train_time_slack_s defaults


def _rows() -> list[tuple[dict, int]]:
    """(node_epochs row, its result's upload bytes) of both Mininet runs."""
    out = []
    for run in sorted(RUNS.iterdir()):
        if not run.is_dir():
            continue
        with (run / "epochs.csv").open() as fh:
            first = next(csv.DictReader(fh))
        per_result = int(first["bytes_in"]) // int(first["active"])  # every node's update has the same size
        with (run / "node_epochs.csv").open() as fh:
            out += [(r, per_result) for r in csv.DictReader(fh)]
    return out


def _measured(row: dict, nbytes: int, window: float, link: LinkFigures | None) -> float:
    """What the orchestrator measures for an honest node of this row that computed `window` s:
    fetched -> body complete is its compute plus the row's upload phase (the task's delivery and the
    result's transfer; after a sync also the ack and the poll, which come before the fetch: counted
    here all the same, so the check is harsher than the run). The orchestrator times the upload from
    its headers: the phase less the delivery's delay."""
    up, rtt = float(row["upload_s"]), float(row["delay_ms"]) / 1000
    upload = Transfer(nbytes, max(up - rtt, 0.0))
    return measured_train_time(0.0, window + up, transfer_allowance(upload, {}, link), Clock.identity())


def test_honest_mininet_rows_are_not_flagged():
    rows = _rows()
    assert len(rows) == 21 and min(float(r["bandwidth_mbps"]) for r, _ in rows) < 0.75
    for row, nbytes in rows:
        link = LinkFigures(float(row["bandwidth_mbps"]), float(row["delay_ms"]), float(row["loss_pct"]))
        # the node's declared window (these runs overran it: also the compute it really took)
        for window in (float(row["train_time_s"]), float(row["compute_wall_s"])):
            measured = _measured(row, nbytes, window, link)
            assert not train_time_flagged(window, measured, TOLERANCE, SLACK_S), (row["node_id"], row["epoch"])


def test_without_link_figures_the_slow_nodes_upload_would_be_flagged():
    """Why the figures are needed: the 0.73 Mb/s node's 0.9 s upload is no training time."""
    row, nbytes = next((r, n) for r, n in _rows() if r["node_id"] == "node-03" and r["epoch"] == "0")
    window = float(row["train_time_s"])
    assert train_time_flagged(window, _measured(row, nbytes, window, None), TOLERANCE, SLACK_S)


def test_allowance_is_capped_by_the_link_and_bounded_without_one():
    link = LinkFigures(bandwidth_mbps=1.0, delay_ms=50.0, loss_pct=0.0)
    result = Transfer(100_000, 30.0)  # a node that held its upload open for 30 s
    predicted = transfer_s(100_000, link, fresh=True)
    assert transfer_allowance(result, {}, link) == pytest.approx(0.05 + predicted)
    assert transfer_allowance(result, {}, link, count_trips=False) == pytest.approx(predicted)
    quick = Transfer(100_000, 0.2)  # faster than predicted: its own time counts, not the prediction
    assert transfer_allowance(quick, {}, link, count_trips=False) == pytest.approx(0.2)
    pad = Transfer(50_000, 30.0)
    with_pad = transfer_allowance(result, {"pad_up": pad}, link)
    assert with_pad == pytest.approx(2 * 0.05 + predicted + transfer_s(50_000, link, fresh=True))
    for missing in (None, LinkFigures(float("nan"), float("nan"), float("nan")), LinkFigures(0.0, 10.0, 0.0)):
        assert not usable_link(missing)
        assert transfer_allowance(result, {"pad_up": pad}, missing) == NO_LINK_ALLOWANCE_S
    assert transfer_allowance(Transfer(10, 0.01), {}, None) == 0.01
