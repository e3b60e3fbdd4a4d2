"""timeline.png: where every node spent every epoch (a Gantt chart, one row per node).

A completion time says AR is slower; this picture says why: which nodes the barrier
waited for, and in which phase (download, compute, upload) they were slow. The four
segments of a node-epoch are node_epochs.csv's download_s, compute_wall_s, upload_s
and waiting_s, laid end to end from the round's start; after the last result the
server aggregates and validates until the epoch ends (the barrier). Nodes the policy
benched are grey from the epoch after the one they were eliminated in until a
re-admission; failures are marked. Columns an engine does not record (the Flower
path has no per-hop timing) are drawn hatched as "not recorded", never as zero.

Every drawn rectangle carries a gid "kind|node|epoch|column" so that a test (or a
reader with a script) can read the figure back.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from experiments.reports.run_folder import RunRecord, number

log = logging.getLogger(__name__)

PHASES = (
    ("download_s", "download", "#4c72b0"),
    ("compute_wall_s", "compute", "#55a868"),
    ("upload_s", "upload", "#dd8452"),
    ("waiting_s", "wait at the barrier", "#e5d8bd"),
)
BENCHED, NOT_RECORDED, SERVER = "#b0b0b0", "#ffffff", "#8172b3"
SERVER_ROW = "server"
MAX_ROWS = 100  # a taller figure is unreadable (and at 10 000 simulated nodes, too large to draw)


@dataclass(frozen=True)
class Segment:
    """One rectangle of the chart: `kind` is a phase column, 'benched', 'not_recorded',
    'setup' or 'aggregate'."""

    kind: str
    node_id: str
    epoch: int
    start: float
    width: float


@dataclass(frozen=True)
class Mark:
    """A point event: 'failed' or 'readmitted'."""

    kind: str
    node_id: str
    epoch: int
    at: float


def epoch_spans(rec: RunRecord) -> dict[int, tuple[float, float]]:
    """Each epoch's (start, end) on the completion-time clock."""
    ends = rec.curve.ends_s
    rows = [r for r in rec.epochs if r.get("val_loss") not in (None, "")]
    return {int(r["epoch"]): (end - float(r["epoch_time_s"] or 0.0), end) for r, end in zip(rows, ends)}


def node_segments(rec: RunRecord) -> list[Segment]:
    """The phase segments of every node-epoch, laid end to end from the epoch's start; a
    row whose transfer columns are empty gets one 'not_recorded' segment after its compute."""
    spans = epoch_spans(rec)
    out: list[Segment] = []
    for r in rec.node_epochs:
        epoch = int(r["epoch"])
        if epoch not in spans or number(r.get("compute_wall_s")) is None:
            continue  # no result this epoch (failed) or an epoch that did not finish
        t, end = spans[epoch][0], spans[epoch][1]
        recorded = all(number(r.get(col)) is not None for col, _, _ in PHASES)
        for col, _, _ in PHASES if recorded else PHASES[1:2]:
            width = number(r.get(col)) or 0.0
            out.append(Segment(col, r["node_id"], epoch, t, width))
            t += width
        if not recorded:
            out.append(Segment("not_recorded", r["node_id"], epoch, t, max(end - t, 0.0)))
    return out


def server_segments(rec: RunRecord, segments: list[Segment]) -> list[Segment]:
    """The server's row: set-up before epoch 0, aggregation and validation after each round."""
    spans = epoch_spans(rec)
    out = []
    if spans:
        first = spans[min(spans)][0]
        out.append(Segment("setup", SERVER_ROW, -1, 0.0, first))
    for epoch, (start, end) in sorted(spans.items()):
        rounds = [s.start + s.width for s in segments if s.epoch == epoch and s.kind != "not_recorded"]
        done = max(rounds, default=start)
        out.append(Segment("aggregate", SERVER_ROW, epoch, done, max(end - done, 0.0)))
    return out


def bench_segments(rec: RunRecord) -> list[Segment]:
    """Grey spans: a node the policy eliminated in epoch e is benched from epoch e + 1 until
    the epoch it trains again (a re-admission) or the end."""
    spans = epoch_spans(rec)
    rows = {(r["node_id"], int(r["epoch"])): r for r in rec.node_epochs}
    out = []
    for nid in rec.node_ids():
        benched = False
        for epoch in sorted(spans):
            r = rows.get((nid, epoch))
            if r is not None:
                benched = r.get("status") == "eliminated"
            elif benched:
                start, end = spans[epoch]
                out.append(Segment("benched", nid, epoch, start, end - start))
    return out


def marks(rec: RunRecord) -> list[Mark]:
    """Failures (at the end of the epoch they failed in) and re-admissions (at the start of
    the epoch they train again)."""
    spans = epoch_spans(rec)
    out = []
    for r in rec.epochs:
        epoch = int(r["epoch"])
        if epoch not in spans:
            continue
        for nid in filter(None, (r.get("failed") or "").split(";")):
            out.append(Mark("failed", nid, epoch, spans[epoch][1]))
        for nid in filter(None, (r.get("readmitted") or "").split(";")):
            nxt = spans.get(epoch + 1, spans[epoch])
            out.append(Mark("readmitted", nid, epoch + 1, nxt[0] if epoch + 1 in spans else nxt[1]))
    return out


def row_order(rec: RunRecord) -> list[str]:
    """Nodes top to bottom: those that trained most epochs first, then by their last score
    (highest first): at 40+ nodes the kept nodes form one block, the benched ones fall
    below in the order they left."""
    trained: dict[str, int] = {}
    score: dict[str, float] = {}
    for r in rec.node_epochs:
        nid = r["node_id"]
        trained[nid] = trained.get(nid, 0) + (number(r.get("compute_wall_s")) is not None)
        s = number(r.get("score"))
        if s is not None:
            score[nid] = s
    return sorted(rec.node_ids(), key=lambda n: (-trained.get(n, 0), -score.get(n, -1.0), n))


def _colour(kind: str) -> str:
    return {col: c for col, _, c in PHASES}.get(kind) or {
        "benched": BENCHED,
        "setup": "#d9d4ec",
        "aggregate": SERVER,
        "not_recorded": NOT_RECORDED,
    }[kind]


def _legend(ax, kinds: set[str], mark_kinds: set[str]) -> None:
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    handles = [Patch(facecolor=c, label=label) for col, label, c in PHASES if col in kinds]
    labels = {
        "not_recorded": "not recorded by this engine",
        "benched": "benched (eliminated)",
        "setup": "set-up (model, data)",
        "aggregate": "server: aggregate + validate",
    }
    for kind, label in labels.items():
        if kind in kinds:
            hatch = "///" if kind == "not_recorded" else None
            handles.append(Patch(facecolor=_colour(kind), edgecolor="#666666", hatch=hatch, label=label))
    if "failed" in mark_kinds:
        handles.append(Line2D([], [], color="red", marker="x", ls="", mew=2, label="failed"))
    if "readmitted" in mark_kinds:
        handles.append(Line2D([], [], color="green", marker=">", ls="", label="re-admitted"))
    handles.append(Line2D([], [], color="black", ls="--", lw=0.8, label="epoch barrier"))
    ax.figure.legend(handles=handles, loc="lower center", ncol=5, fontsize=8, frameon=False)


def _left_edge(spans: dict[int, tuple[float, float]], end: float) -> float:
    """0, unless the set-up takes most of the run (a loopback run moves its base model in
    seconds and trains in a few more): then the axis starts just before epoch 0, so that
    the epochs fill the picture, and the set-up is labelled instead."""
    if not spans:
        return 0.0
    first = spans[min(spans)][0]
    return first - 0.03 * (end - first) if first > 0.25 * end else 0.0


def _label_setup(ax, spans: dict[int, tuple[float, float]], left: float) -> None:
    if not spans:
        return
    first = spans[min(spans)][0]
    text = f"set-up {first:.1f} s" + (" (from 0, left of the axis)" if left > 0 else "")
    ax.text(max(left, 0.0) + 0.005 * (ax.get_xlim()[1] - left), 0, text, va="center", ha="left", fontsize=7)


def draw_timeline(rec: RunRecord):
    """The Gantt chart of a run as a matplotlib Figure (the caller saves or inspects it)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    ranked = row_order(rec)
    order = [SERVER_ROW, *ranked[:MAX_ROWS]]
    row = {nid: i for i, nid in enumerate(order)}
    fig, ax = plt.subplots(figsize=(11, max(3.5, 0.2 * len(order) + 2.2)))
    nodes = node_segments(rec)
    segments = [s for s in nodes + server_segments(rec, nodes) + bench_segments(rec) if s.node_id in row]
    for s in segments:
        ax.add_patch(
            Rectangle(
                (s.start, row[s.node_id] - 0.38),
                s.width,
                0.76,
                facecolor=_colour(s.kind),
                edgecolor="#666666" if s.kind == "not_recorded" else "none",
                hatch="///" if s.kind == "not_recorded" else None,
                linewidth=0.4,
                gid=f"{s.kind}|{s.node_id}|{s.epoch}",
            )
        )
    spans = epoch_spans(rec)
    for epoch, (start, end) in spans.items():
        ax.axvline(end, color="black", lw=0.8, ls="--")
        ax.text((start + end) / 2, -0.55, f"e{epoch}", ha="center", va="bottom", fontsize=8)
    events = marks(rec)
    for m in events:
        if m.node_id in row:
            style = ("x", "red") if m.kind == "failed" else (">", "green")
            ax.plot(
                m.at, row[m.node_id], marker=style[0], color=style[1], ms=8, mew=2, ls="", gid=f"{m.kind}|{m.node_id}"
            )
    ax.set_yticks(range(len(order)), order, fontsize=8 if len(order) <= 31 else 6)
    ax.set_ylim(len(order) - 0.5, -1.0)
    end = max([e for _, e in spans.values()] + [float(rec.summary.get("completion_time_s") or 0.0), 1e-9])
    ax.set_xlim(_left_edge(spans, end), end * 1.01)
    ax.set_xlabel("time since the first send (s; reported time = wall / k)")
    policy = str(rec.summary.get("policy", "?")).upper()
    shown = "" if len(ranked) <= MAX_ROWS else f" (the first {MAX_ROWS} of {len(ranked)} nodes in this order)"
    ax.set_title(f"{policy}, {len(ranked)} nodes, {len(spans)} epochs: where each epoch's time went{shown}")
    ax.grid(axis="x", alpha=0.3)
    _legend(ax, {seg.kind for seg in segments}, {m.kind for m in events})
    _label_setup(ax, spans, ax.get_xlim()[0])
    fig.tight_layout(rect=(0, 0.07 if len(order) > 12 else 0.12, 1, 1))
    return fig


def plot_timeline(rec: RunRecord, path: Path) -> Path:
    """Draw the run's timeline into `path` (timeline.png)."""
    import matplotlib.pyplot as plt

    fig = draw_timeline(rec)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
