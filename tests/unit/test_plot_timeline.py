"""timeline.png (issue 30 item 3), read back from the figure's artists as a reader would
read the picture: every node has a row, each drawn segment is the CSV's figure, benched
nodes are grey from the epoch after their elimination, columns an engine does not record
are drawn as "not recorded", failures and re-admissions are marked.

The run folders are recorded runs, CSV and JSON only: tests/fixtures/run_folders/loopback-4n
(`edgeft local --nodes 4 --epochs 3 --seed 0`, NE and AR) and mininet-4n (`edgeft compare
--nodes 4 --setups 2 --epochs 3 --seeds 0` as root)."""

import csv
import shutil
from pathlib import Path

import matplotlib.pyplot as plt
import pytest

from experiments.reports.run_folder import RunRecord, load_record
from experiments.reports.timeline import BENCHED, PHASES, draw_timeline

RUNS = Path(__file__).parents[1] / "fixtures" / "run_folders"
FIXTURE = RUNS / "loopback-4n"
RECORDED = [
    FIXTURE / "ne",
    FIXTURE / "ar",
    RUNS / "mininet-4n" / "n4-setup2-seed0-ne",
    RUNS / "mininet-4n" / "n4-setup2-seed0-ar",
]
COLUMNS = [col for col, _, _ in PHASES]


def _drawn(fig) -> dict[str, object]:
    """The rectangles of the chart by gid 'kind|node|epoch'."""
    return {p.get_gid(): p for p in fig.axes[0].patches if p.get_gid()}


def _rows(run: Path) -> list[dict]:
    with (run / "node_epochs.csv").open() as fh:
        return list(csv.DictReader(fh))


def _row_of(fig) -> dict[str, float]:
    ax = fig.axes[0]
    return {t.get_text(): y for t, y in zip(ax.get_yticklabels(), ax.get_yticks())}


@pytest.mark.parametrize("run", RECORDED, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_node_has_a_row(run):
    rec = load_record(run)
    fig = draw_timeline(rec)
    rows = _row_of(fig)
    assert set(rec.node_ids()) == {"node-01", "node-02", "node-03", "node-04"}
    assert set(rec.node_ids()) <= set(rows) and "server" in rows
    plt.close(fig)


@pytest.mark.parametrize("run", RECORDED, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_drawn_segments_are_the_csvs_phase_times_on_the_nodes_row(run):
    fig = draw_timeline(load_record(run))
    drawn, row_y = _drawn(fig), _row_of(fig)
    checked = 0
    for r in _rows(run):
        end = None
        for col in COLUMNS:
            patch = drawn[f"{col}|{r['node_id']}|{r['epoch']}"]
            assert patch.get_width() == pytest.approx(float(r[col]), rel=0.01, abs=1e-9), (r["node_id"], col)
            assert patch.get_y() + patch.get_height() / 2 == pytest.approx(row_y[r["node_id"]])
            if end is not None:  # laid end to end: download, compute, upload, wait
                assert patch.get_x() == pytest.approx(end)
            end = patch.get_x() + patch.get_width()
            checked += 1
    assert checked == 4 * len(_rows(run))
    plt.close(fig)


@pytest.mark.parametrize("run", RECORDED[0::2], ids=lambda p: p.parent.name)
def test_eliminated_nodes_are_grey_from_the_epoch_after_their_elimination(run):
    rec = load_record(run)
    out_in = {r["node_id"]: int(r["epoch"]) for r in rec.node_epochs if r["status"] == "eliminated"}
    assert out_in, "the NE fixture eliminates nodes"
    fig = draw_timeline(rec)
    drawn = _drawn(fig)
    epochs = range(len(rec.epochs))
    for nid in rec.node_ids():
        benched = {e for e in epochs if f"benched|{nid}|{e}" in drawn}
        expected = {e for e in epochs if nid in out_in and e > out_in[nid]}
        assert benched == expected, nid
        for e in benched:
            assert drawn[f"benched|{nid}|{e}"].get_facecolor()[:3] == pytest.approx(
                plt.matplotlib.colors.to_rgb(BENCHED)
            )
            assert f"compute_wall_s|{nid}|{e}" not in drawn
    plt.close(fig)


def test_ar_benches_nobody():
    fig = draw_timeline(load_record(FIXTURE / "ar"))
    assert not [g for g in _drawn(fig) if g.startswith("benched|")]
    plt.close(fig)


def test_columns_an_engine_does_not_record_are_drawn_as_not_recorded(tmp_path):
    """The Flower path's rows have no download, upload or waiting (orchestrator/flower/records.py)."""
    run = tmp_path / "flower-like"
    shutil.copytree(FIXTURE / "ne", run)
    rows = _rows(run)
    for r in rows:
        r["download_s"] = r["upload_s"] = r["waiting_s"] = ""
    with (run / "node_epochs.csv").open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    fig = draw_timeline(load_record(run))
    drawn = _drawn(fig)
    for r in rows:
        key = f"{r['node_id']}|{r['epoch']}"
        assert f"download_s|{key}" not in drawn and f"waiting_s|{key}" not in drawn
        assert drawn[f"compute_wall_s|{key}"].get_width() == pytest.approx(float(r["compute_wall_s"]), rel=0.01)
        assert drawn[f"not_recorded|{key}"].get_hatch()
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert "not recorded by this engine" in legend
    plt.close(fig)


def _node_row(epoch: int, nid: str, status: str = "active", timed: bool = True) -> dict:
    times = {"download_s": "0.1", "compute_wall_s": "1.0", "upload_s": "0.2", "waiting_s": "0.3"} if timed else {}
    return {"epoch": str(epoch), "node_id": nid, "status": status, "score": "0.5", **times}


def test_readmissions_and_failures_are_marked():
    """A hand-made record: node-c benched after epoch 0 and re-admitted for epoch 2; node-b fails in epoch 1."""
    epochs = [
        {"epoch": "0", "val_loss": "9", "epoch_time_s": "2", "readmitted": "", "failed": ""},
        {"epoch": "1", "val_loss": "8", "epoch_time_s": "2", "readmitted": "node-c", "failed": "node-b"},
        {"epoch": "2", "val_loss": "7", "epoch_time_s": "2", "readmitted": "", "failed": ""},
    ]
    node_epochs = [
        _node_row(0, "node-a"),
        _node_row(0, "node-b"),
        _node_row(0, "node-c", "eliminated"),
        _node_row(1, "node-a"),
        _node_row(1, "node-b", "failed", timed=False),
        _node_row(2, "node-a"),
        _node_row(2, "node-c"),
    ]
    summary = {"policy": "ne_plus", "completion_time_s": 10.0, "pre_training_loss": 10.0}
    rec = RunRecord(Path("."), summary, epochs, node_epochs)
    fig = draw_timeline(rec)
    drawn = _drawn(fig)
    assert [g for g in drawn if g.startswith("benched|")] == ["benched|node-c|1"]
    lines = {line.get_gid(): line for line in fig.axes[0].lines if line.get_gid()}
    assert lines["failed|node-b"].get_xdata()[0] == pytest.approx(8.0)  # the end of epoch 1 (set-up 4 s)
    assert lines["readmitted|node-c"].get_xdata()[0] == pytest.approx(8.0)  # the start of epoch 2
    assert "compute_wall_s|node-c|2" in drawn and "compute_wall_s|node-b|1" not in drawn
    plt.close(fig)


def test_forty_eight_nodes_keep_one_readable_row_each_sorted_by_participation_then_score():
    nodes = [f"node-{i:02d}" for i in range(1, 49)]
    epochs = [{"epoch": str(e), "val_loss": str(9 - e), "epoch_time_s": "2"} for e in range(3)]
    out_in = {nid: (i // 2) % 2 for i, nid in enumerate(nodes) if i % 2}  # odd i: benched after epoch 0 or 1
    node_epochs = [
        {**_node_row(e, nid, "eliminated" if out_in.get(nid) == e else "active"), "score": str(i / 100)}
        for i, nid in enumerate(nodes)
        for e in range(3)
        if e <= out_in.get(nid, 2)
    ]
    rec = RunRecord(
        Path("."), {"policy": "ne", "completion_time_s": 8.0, "pre_training_loss": 10.0}, epochs, node_epochs
    )
    fig = draw_timeline(rec)
    rows = _row_of(fig)
    assert set(nodes) <= set(rows) and len(rows) == 49
    assert fig.get_size_inches()[1] >= 0.2 * 49  # a row keeps its height however many nodes
    order = sorted(nodes, key=rows.get)
    kept = [n for n in nodes if int(n[-2:]) % 2 == 1]  # index i = number - 1 even: never eliminated
    assert order[: len(kept)] == sorted(kept, key=lambda n: -int(n[-2:]))  # the kept block first, by score
    plt.close(fig)
