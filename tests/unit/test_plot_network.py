"""network.png (issue 30 item 4): the picture names every node, marks a loopback run as
having no emulated topology, draws the tree of an emulated run (from topology.json, or
topologies/edge_cloud.py's defaults where a run folder has none), labels eliminated nodes
with their epoch and takes each link's figures from the last node_epochs.csv row."""

import json
import re
import shutil
from dataclasses import asdict
from pathlib import Path

import matplotlib.pyplot as plt
import pytest

from experiments.reports.network_map import (
    draw_network,
    edge_cloud_topology,
    measured,
    node_label,
    topology_for,
)
from experiments.reports.run_folder import RunRecord, load_record

FIXTURE = Path(__file__).parents[1] / "fixtures" / "run_folders" / "loopback-4n"
MININET = Path(__file__).parents[1] / "fixtures" / "run_folders" / "mininet-4n"


def _texts(fig) -> str:
    return "\n".join(t.get_text() for t in fig.findobj(plt.matplotlib.text.Text))


@pytest.mark.parametrize("policy", ["ne", "ar"])
def test_a_loopback_run_is_a_star_that_names_every_node_and_says_it_emulated_no_topology(policy):
    rec = load_record(FIXTURE / policy)
    assert topology_for(rec)["kind"] == "loopback"
    fig = draw_network(rec)
    text = _texts(fig)
    for nid in rec.node_ids():
        assert nid in text
    assert "no emulated topology" in text
    plt.close(fig)


def test_eliminated_nodes_are_labelled_with_the_epoch_they_left_in():
    rec = load_record(FIXTURE / "ne")
    out_in = {r["node_id"]: r["epoch"] for r in rec.node_epochs if r["status"] == "eliminated"}
    text = _texts(draw_network(rec))
    for nid, epoch in out_in.items():
        assert node_label(nid, measured(rec)[nid]) == f"{nid}\nout e{epoch}"
        assert f"{nid}\nout e{epoch}" in text
    plt.close("all")


def test_link_figures_are_the_last_rows_capacity_delay_and_loss():
    rec = load_record(FIXTURE / "ne")
    last = {}
    for r in rec.node_epochs:
        last[r["node_id"]] = r
    seen = measured(rec)
    for nid, r in last.items():
        cap = float(r["capacity_mbps"]) if r["capacity_mbps"] not in ("", "nan") else float(r["bandwidth_mbps"])
        assert seen[nid]["capacity_mbps"] == pytest.approx(cap)
        assert seen[nid]["delay_ms"] == pytest.approx(float(r["delay_ms"]))
        assert f"{float(r['delay_ms']):.0f} ms, {float(r['loss_pct']):.1f} %" in _texts(draw_network(rec))
    plt.close("all")


@pytest.mark.parametrize("policy", ["ne", "ar"])
def test_a_mininet_run_without_topology_json_is_drawn_as_the_default_tree(policy):
    """tests/fixtures/run_folders/mininet-4n: a recorded `edgeft compare` (as root), no topology.json."""
    rec = load_record(MININET / f"n4-setup2-seed0-{policy}")
    assert rec.topology is None and topology_for(rec)["kind"] == "edge_cloud"
    fig = draw_network(rec)
    text = _texts(fig)
    for name in ["server", "s1", "a1", "a2", "g1", "g2", "g3", "g4", *rec.node_ids()]:
        assert name in text
    assert "no emulated topology" not in text
    last = {r["node_id"]: r for r in rec.node_epochs}
    for nid, r in last.items():  # the capacity the controller measured last, with its delay and loss
        label = f"{float(r['capacity_mbps']):.3g} Mb/s\n{float(r['delay_ms']):.0f} ms, {float(r['loss_pct']):.1f} %"
        assert label in text, nid
    plt.close(fig)


def test_topology_json_is_drawn_as_written(tmp_path):
    run = tmp_path / "with-topology"
    shutil.copytree(FIXTURE / "ar", run)
    rec = load_record(run)
    topo = edge_cloud_topology(rec.ground_truth["nodes"], domains=2, dilation=3.0)
    (run / "topology.json").write_text(json.dumps(topo))
    rec = load_record(run)
    assert topology_for(rec) == topo
    text = _texts(draw_network(rec))
    assert "g2" in text and "g3" not in text and "k = 3" in text
    plt.close("all")


class _Recorder:
    """Records what topologies/edge_cloud._wire asks of a Mininet net. Mininet itself needs
    root and Open vSwitch, which unit tests do not have: this checks the default tree the
    report assumes against the code that builds the real one, call for call."""

    def __init__(self):
        pass

    def addSwitch(self, name, **_):  # noqa: N802 - Mininet's API
        return name

    def addHost(self, name, **_):  # noqa: N802
        return name

    def addLink(self, a, b, **_):  # noqa: N802
        return (a, b)


@pytest.mark.parametrize("count", [4, 12, 41])
def test_the_default_tree_is_the_one_topologies_edge_cloud_wires(count):
    from topologies.edge_cloud import _wire
    from topologies.profiles import draw_profiles

    profiles = draw_profiles(count, 2, 0)
    hosts, _, rates = _wire(_Recorder(), profiles, 4, 2, {}, 2.0, False)
    name_of = {v: k for k, v in hosts.items()}  # Mininet host name -> node id
    wired = {frozenset((name_of.get(a, a), name_of.get(b, b))): mbps for (a, b), mbps in rates}
    topo = edge_cloud_topology([asdict(p) for p in profiles])
    drawn = {frozenset((link["a"], link["b"])): link["rate_mbps"] for link in topo["links"]}
    assert drawn == pytest.approx(wired)
    assert {n["host"] for n in topo["nodes"] if n["role"] == "host"} == set(name_of)


def _synthetic(count: int, emulated: bool) -> RunRecord:
    """A record of `count` nodes with one epoch each, node i scored i / count."""
    from topologies.profiles import as_ground_truth, draw_profiles

    truth = as_ground_truth(draw_profiles(count, 2, 0), 2, 0)
    rows = [
        {"epoch": "0", "node_id": n["node_id"], "status": "active", "score": str(i / count), "compute_wall_s": "1"}
        | {k: str(n[k]) for k in ("bandwidth_mbps", "delay_ms", "loss_pct")}
        for i, n in enumerate(truth["nodes"])
    ]
    summary = {"policy": "ar", "completion_time_s": 3.0, "pre_training_loss": 9.0}
    summary["metrics_source"] = "controller" if emulated else "static"
    epochs = [{"epoch": "0", "val_loss": "8", "epoch_time_s": "2"}]
    return RunRecord(Path("."), summary, epochs, rows, ground_truth=truth)


@pytest.mark.parametrize("emulated", [True, False], ids=["tree", "star"])
def test_forty_eight_nodes_are_all_named_with_their_links_figures(emulated):
    rec = _synthetic(48, emulated=emulated)
    fig = draw_network(rec)
    text = _texts(fig)
    assert set(re.findall(r"node-\d+", text)) == set(rec.node_ids())
    for n in rec.ground_truth["nodes"]:  # crowded: the link's figures go beside the node's name
        assert f"{n['bandwidth_mbps']:.3g} Mb/s, {n['delay_ms']:.0f} ms, {n['loss_pct']:.1f} %" in text
    plt.close(fig)


def test_more_nodes_than_fit_are_cut_to_the_first_hundred_and_say_so():
    from experiments.reports.timeline import draw_timeline

    rec = _synthetic(150, emulated=True)
    fig = draw_network(rec)
    text = _texts(fig)
    named = set(re.findall(r"node-\d+", text))
    assert len(named) == 100 and "50 more not drawn" in text
    assert "node-150" in named  # the best scored are kept
    timeline = draw_timeline(rec)
    assert len(timeline.axes[0].get_yticks()) == 101 and "first 100 of 150" in timeline.axes[0].get_title()
    plt.close("all")


def test_write_topology_is_what_the_picture_reads(tmp_path):
    from experiments.reports.network_map import write_topology
    from topologies.profiles import draw_profiles

    shutil.copytree(FIXTURE / "ne", tmp_path / "run")
    write_topology(tmp_path / "run", draw_profiles(4, 2, 0), dilation=2.0)
    topo = topology_for(load_record(tmp_path / "run"))
    assert topo["kind"] == "edge_cloud" and topo["dilation"] == 2.0
    assert [n["name"] for n in topo["nodes"] if n["role"] == "host"] == ["node-01", "node-02", "node-03", "node-04"]


def test_twelve_nodes_labels_do_not_overlap():
    """At 12 nodes (three per gateway) the figures written along the access links overlapped and
    could not be read (seen on the k 8 recordings): no two texts of the picture may overlap."""
    import matplotlib

    matplotlib.use("Agg")
    from experiments.reports.network_map import draw_network
    from experiments.reports.run_folder import load_record

    run = (
        Path(__file__).resolve().parents[1] / "fixtures" / "run_folders" / "mininet-replay-12n" / "n12-setup2-seed1-ne"
    )
    fig = draw_network(load_record(run))
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    ax = fig.axes[0]
    boxes = [t.get_window_extent(renderer) for t in ax.texts if t.get_text().strip()]
    assert len(boxes) >= 12
    clashes = [(i, j) for i in range(len(boxes)) for j in range(i) if boxes[i].overlaps(boxes[j])]
    assert not clashes, [(ax.texts[i].get_text(), ax.texts[j].get_text()) for i, j in clashes[:3]]
