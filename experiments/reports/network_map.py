"""network.png: the network a run ran in, as the controller measured it.

topology.json (format 1), written into a run folder by the runner that built the network:

    {"format": 1, "kind": "edge_cloud", "dilation": 1.0,
     "nodes": [{"name": "server", "role": "server", "ip": "10.0.0.1"},
               {"name": "s1", "role": "core"}, {"name": "a1", "role": "aggregation"},
               {"name": "g1", "role": "gateway"},
               {"name": "node-01", "role": "host", "host": "n1", "ip": "10.1.0.2"}, ...],
     "links": [{"a": "server", "b": "s1", "rate_mbps": 1000.0},
               {"a": "g1", "b": "node-01", "rate_mbps": 2.735, "delay_ms": 17.7, "loss_pct": 2.78,
                "access": true}, ...]}

Roles: server, core, aggregation, gateway, host; a host is named by its node id. Figures
are the emulated world's (as drawn, before dilation by k); `kind` "loopback" has only
the server, the hosts and one access link each. A run folder without topology.json is
drawn from what it has: an emulated run (Mininet) as the tree topologies/edge_cloud.py
builds by default for its ground_truth.json, any other run as a star marked "no
emulated topology".

What is drawn on top is what the orchestrator saw: each access link coloured by the
capacity it measured (the last node_epochs.csv row's capacity_mbps, else its
bandwidth_mbps) and labelled with the delay and loss it measured, each node coloured
by its last score and labelled with the epoch it was eliminated in.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

from experiments.reports.run_folder import RunRecord, number

FORMAT = 1
LAYERS = {"server": 0, "core": 1, "aggregation": 2, "gateway": 3, "host": 4}
CORE_BW_MBPS = 1000.0  # topologies/edge_cloud.py's trunk rate
DOMAINS, UPLINK_FACTOR = 4, 2.0  # topologies/edge_cloud.build's defaults
MAX_HOSTS = 100  # more dots and labels than this are unreadable (a simulator runs 10 000)


def _host_ip(index: int) -> str:
    """topologies/edge_cloud.node_ip: edge host i (1-based) gets 10.1.x.y."""
    return f"10.1.{index // 250}.{index % 250 + 1}"


def edge_cloud_topology(
    profiles: Sequence[dict], domains: int = DOMAINS, uplink_factor: float = UPLINK_FACTOR, dilation: float = 1.0
) -> dict:
    """The tree topologies/edge_cloud.build wires for these profiles (dicts with node_id,
    bandwidth_mbps, delay_ms, loss_pct, as ground_truth.json's "nodes"): server - core -
    ceil(D/2) aggregation switches - D gateways - hosts, host i in domain (i - 1) mod D."""
    domains = max(1, min(domains, len(profiles)))
    aggs = [f"a{i + 1}" for i in range(math.ceil(domains / 2))]
    nodes = [{"name": "server", "role": "server", "ip": "10.0.0.1"}, {"name": "s1", "role": "core"}]
    nodes += [{"name": a, "role": "aggregation"} for a in aggs]
    links = [{"a": "server", "b": "s1", "rate_mbps": CORE_BW_MBPS}]
    links += [{"a": a, "b": "s1", "rate_mbps": CORE_BW_MBPS} for a in aggs]
    for d in range(domains):
        members = [(i, p) for i, p in enumerate(profiles, 1) if (i - 1) % domains == d]
        gw = f"g{d + 1}"
        nodes.append({"name": gw, "role": "gateway"})
        uplink = min(CORE_BW_MBPS, uplink_factor * max(float(p["bandwidth_mbps"]) for _, p in members))
        links.append({"a": gw, "b": aggs[d // 2], "rate_mbps": uplink})
        for i, p in members:
            nodes.append({"name": p["node_id"], "role": "host", "host": f"n{i}", "ip": _host_ip(i)})
            links.append({"a": gw, "b": p["node_id"], "access": True, **_figures(p)})
    return {"format": FORMAT, "kind": "edge_cloud", "dilation": dilation, "nodes": nodes, "links": links}


def write_topology(run_dir: Path, profiles: Sequence, dilation: float = 1.0, domains: int = DOMAINS) -> Path:
    """Write run_dir/topology.json for the tree built from these profiles (NodeProfile
    objects or ground_truth.json's dicts): what a runner calls once its network is up."""
    import json
    from dataclasses import asdict, is_dataclass

    rows = [asdict(p) if is_dataclass(p) else dict(p) for p in profiles]
    path = Path(run_dir) / "topology.json"
    path.write_text(json.dumps(edge_cloud_topology(rows, domains=domains, dilation=dilation), indent=2))
    return path


def _figures(p: dict) -> dict:
    return {"rate_mbps": float(p["bandwidth_mbps"]), "delay_ms": float(p["delay_ms"]), "loss_pct": float(p["loss_pct"])}


def star_topology(profiles: Sequence[dict]) -> dict:
    """A loopback (or simulated) run: no network was emulated; the server and one link per
    node carrying the figures the orchestrator was given."""
    nodes = [{"name": "server", "role": "server", "ip": "127.0.0.1"}]
    nodes += [{"name": p["node_id"], "role": "host"} for p in profiles]
    links = [{"a": "server", "b": p["node_id"], "access": True, **_figures(p)} for p in profiles]
    return {"format": FORMAT, "kind": "loopback", "dilation": 1.0, "nodes": nodes, "links": links}


def _profiles(rec: RunRecord) -> list[dict]:
    """The drawn link figures per node: ground_truth.json, else each node's first row."""
    if rec.ground_truth and rec.ground_truth.get("nodes"):
        return list(rec.ground_truth["nodes"])
    first: dict[str, dict] = {}
    for r in rec.node_epochs:
        first.setdefault(r["node_id"], r)
    return [
        {k: number(first.get(nid, {}).get(k)) or 0.0 for k in ("bandwidth_mbps", "delay_ms", "loss_pct")}
        | {"node_id": nid}
        for nid in rec.node_ids()
    ]


def emulated(rec: RunRecord) -> bool:
    """Whether the run's links were emulated (Mininet): its config says so, or its figures
    came from the SDN controller."""
    return bool(rec.config.get("emulation", {}).get("emulated_links")) or rec.summary.get("metrics_source") == (
        "controller"
    )


def topology_for(rec: RunRecord) -> dict:
    """The run's topology.json; else the default tree (emulated runs) or a star."""
    if rec.topology:
        return rec.topology
    profiles = _profiles(rec)
    return edge_cloud_topology(profiles) if emulated(rec) and profiles else star_topology(profiles)


def measured(rec: RunRecord) -> dict[str, dict]:
    """Per node, what the orchestrator last saw: capacity (measured capacity_mbps, else the
    bandwidth figure it scored), delay, loss, last score and the epochs it left, came back
    and failed in."""
    out: dict[str, dict] = {}
    for r in rec.node_epochs:
        m = out.setdefault(r["node_id"], {"eliminated": [], "readmitted": [], "failed": []})
        cap = number(r.get("capacity_mbps"))
        for key, value in (
            ("capacity_mbps", cap if cap is not None else number(r.get("bandwidth_mbps"))),
            ("delay_ms", number(r.get("delay_ms"))),
            ("loss_pct", number(r.get("loss_pct"))),
            ("score", number(r.get("score"))),
        ):
            if value is not None:
                m[key] = value
        if r.get("status") in ("eliminated", "failed"):
            m[r["status"]].append(int(r["epoch"]))
    for r in rec.epochs:
        for nid in filter(None, (r.get("readmitted") or "").split(";")):
            out.setdefault(nid, {"eliminated": [], "readmitted": [], "failed": []})["readmitted"].append(
                int(r["epoch"]) + 1
            )
    return out


def node_label(node_id: str, figures: dict | None) -> str:
    """The node id, and the epochs it was eliminated in, re-admitted from and failed in."""
    parts = [node_id]
    if figures:
        parts += [f"out e{e}" for e in figures.get("eliminated", [])]
        parts += [f"back e{e}" for e in figures.get("readmitted", [])]
        parts += [f"failed e{e}" for e in figures.get("failed", [])]
    return "\n".join(parts)


def link_label(figures: dict | None, drawn: dict) -> str:
    """'<capacity> Mb/s' over '<delay> ms, <loss> %' as measured (as drawn, marked '(drawn)',
    where nothing was)."""
    if figures and "delay_ms" in figures:
        cap = f"{figures['capacity_mbps']:.3g} Mb/s\n" if "capacity_mbps" in figures else ""
        return f"{cap}{figures['delay_ms']:.0f} ms, {figures.get('loss_pct', float('nan')):.1f} %"
    return f"{drawn.get('delay_ms', float('nan')):.0f} ms, {drawn.get('loss_pct', float('nan')):.1f} % (drawn)"


def _natural(name: str) -> tuple:
    """g2 before g10."""
    import re

    return tuple(int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name))


def _graph(topo: dict):
    """The topology as a networkx Graph, hosts in the order of their gateway (so that a
    layered layout puts every host under its gateway)."""
    import networkx as nx

    roles = {n["name"]: n.get("role", "host") for n in topo["nodes"]}
    parent = {}
    for link in topo["links"]:
        a, b = link["a"], link["b"]
        if roles.get(b) == "host":
            parent[b] = a
        elif roles.get(a) == "host":
            parent[a] = b
    order = sorted(roles, key=lambda n: (LAYERS.get(roles[n], 4), _natural(parent.get(n, "")), _natural(n)))
    g = nx.Graph()
    for name in order:
        g.add_node(name, layer=LAYERS.get(roles[name], 4), role=roles[name])
    for link in topo["links"]:
        g.add_edge(link["a"], link["b"], **link)
    return g


def _at_most(g, rec: RunRecord, limit: int):
    """The graph with at most `limit` hosts (those the timeline shows first) and the
    switches above them; returns it and how many hosts were left out."""
    from experiments.reports.timeline import row_order

    hosts = [n for n in g if g.nodes[n]["role"] == "host"]
    if len(hosts) <= limit:
        return g, 0
    ranked = [n for n in row_order(rec) if n in g] + [n for n in hosts if n not in set(row_order(rec))]
    keep = set(ranked[:limit])
    h = g.copy()
    h.remove_nodes_from([n for n in hosts if n not in keep])
    leaves = [n for n in h if h.degree(n) <= 1 and h.nodes[n]["role"] not in ("host", "server")]
    while leaves:  # switches left with nothing below them
        h.remove_nodes_from(leaves)
        leaves = [n for n in h if h.degree(n) <= 1 and h.nodes[n]["role"] not in ("host", "server")]
    return h, len(hosts) - limit


def _positions(g, star: bool) -> dict:
    """Star: the server in the middle, the hosts on a circle (networkx's shell layout).
    Tree: hosts evenly along the bottom in their gateways' order, every switch above the
    middle of what hangs below it, the server on top."""
    import networkx as nx

    hosts = [n for n in g if g.nodes[n]["role"] == "host"]
    if star:
        return nx.shell_layout(g, nlist=[[n for n in g if n not in hosts], hosts])
    pos = {n: (float(i), 0.0) for i, n in enumerate(hosts)}
    for layer in sorted({g.nodes[n]["layer"] for n in g} - {LAYERS["host"]}, reverse=True):
        members = [n for n in g if g.nodes[n]["layer"] == layer]
        for i, n in enumerate(members):
            below = [pos[m][0] for m in g.neighbors(n) if m in pos and g.nodes[m]["layer"] > layer]
            x = sum(below) / len(below) if below else float(i)
            pos[n] = (x, float(LAYERS["host"] - layer))
    width = max(len(hosts) - 1, 1)
    return {n: (x / width, y / LAYERS["host"]) for n, (x, y) in pos.items()}


def draw_network(rec: RunRecord):
    """The run's network picture as a matplotlib Figure."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    topo = topology_for(rec)
    star = topo.get("kind") != "edge_cloud"
    g, dropped = _at_most(_graph(topo), rec, MAX_HOSTS)
    pos = _positions(g, star)
    seen = measured(rec)
    hosts = [n for n in g if g.nodes[n]["role"] == "host"]
    # Beyond a handful of hosts the labels along the short access links overlap (12 nodes, three per
    # gateway, were unreadable): the link figures then go under each host's name, turned.
    crowded = len(hosts) > 6
    size = (max(9.0, 0.38 * len(hosts) + 3), 8) if not star else ((14, 12) if crowded else (10, 8))
    fig, ax = plt.subplots(figsize=size)
    cap_scale = _draw_links(ax, g, pos, seen, on_links=not crowded)
    score_scale = _draw_nodes(ax, g, pos, hosts, seen)
    _host_labels(ax, pos, hosts, seen, star, crowded, {h: g.edges[e] for e in g.edges for h in e if h in hosts})
    for scale, label in ((cap_scale, "access link: capacity measured (Mb/s)"), (score_scale, "node: last score")):
        fig.colorbar(matplotlib.cm.ScalarMappable(*scale), ax=ax, fraction=0.025, pad=0.1, label=label)
    more = f"\n(the first {MAX_HOSTS} nodes by participation and score; {dropped} more not drawn)" if dropped else ""
    ax.set_title(_title(rec, topo, star) + more, fontsize=10)
    ax.axis("off")
    ax.margins(0.3 if star and crowded else 0.08, 0.3 if star and crowded else 0.12)
    fig.tight_layout()
    return fig


def _draw_links(ax, g, pos: dict, seen: dict, on_links: bool) -> tuple:
    """Trunks grey with their rate; access links coloured by the capacity measured (log
    scale), labelled along the link when `on_links`. Returns the (norm, colormap)."""
    import matplotlib.pyplot as plt
    import networkx as nx
    from matplotlib.colors import LogNorm

    access = [(a, b) for a, b, d in g.edges(data=True) if d.get("access")]
    host_of = {e: (e[1] if g.nodes[e[1]]["role"] == "host" else e[0]) for e in access}
    caps = [seen.get(host_of[e], {}).get("capacity_mbps", g.edges[e].get("rate_mbps", 1.0)) for e in access]
    low = max(min(caps, default=1.0), 1e-3)
    norm, cmap = LogNorm(vmin=low, vmax=max(max(caps, default=1.0), low) * 1.0001), plt.get_cmap("plasma")
    trunks = [e for e in g.edges if e not in access]
    nx.draw_networkx_edges(g, pos, edgelist=trunks, edge_color="#999999", ax=ax)
    nx.draw_networkx_edges(g, pos, edgelist=access, edge_color=[cmap(norm(c)) for c in caps], width=2.5, ax=ax)
    text = {e: f"{g.edges[e]['rate_mbps']:.0f} Mb/s" for e in trunks if "rate_mbps" in g.edges[e]}
    if on_links:
        text |= {e: link_label(seen.get(host_of[e]), g.edges[e]) for e in access}
    nx.draw_networkx_edge_labels(g, pos, edge_labels=text, font_size=7, ax=ax)
    return norm, cmap


def _draw_nodes(ax, g, pos: dict, hosts: list[str], seen: dict) -> tuple:
    """Hosts coloured by their last score (grey: none; a red ring: eliminated at some
    point), switches and server as grey squares. Returns the (norm, colormap)."""
    import matplotlib.pyplot as plt
    import networkx as nx
    from matplotlib.colors import Normalize

    norm, cmap = Normalize(0.0, 1.0), plt.get_cmap("viridis")
    scores = [seen.get(n, {}).get("score") for n in hosts]
    colours = [cmap(norm(s)) if s is not None else "#dddddd" for s in scores]
    rings = ["#d62728" if seen.get(n, {}).get("eliminated") else "black" for n in hosts]
    nx.draw_networkx_nodes(g, pos, nodelist=hosts, ax=ax, node_size=260, node_color=colours, edgecolors=rings)
    infra = [n for n in g if n not in hosts]
    nx.draw_networkx_nodes(g, pos, nodelist=infra, node_shape="s", node_color="#c7c7c7", node_size=420, ax=ax)
    nx.draw_networkx_labels(g, pos, labels={n: n for n in infra}, font_size=8, ax=ax)
    return norm, cmap


def _host_labels(ax, pos: dict, hosts: list[str], seen: dict, star: bool, crowded: bool, links: dict) -> None:
    """Each host's id and elimination epochs beside its dot (below it, turned, in a tree of
    many hosts); when crowded, its access link's figures too (`links`: host -> link)."""
    for n in hosts:
        x, y = pos[n]
        text = node_label(n, seen.get(n))
        if crowded:
            text += "\n" + link_label(seen.get(n), links.get(n, {})).replace("\n", ", ")
        if star and crowded:  # one line along the spoke, outward
            angle = math.degrees(math.atan2(y, x))
            left = x < 0
            ax.text(
                x * 1.08,
                y * 1.08,
                text.replace("\n", ", "),
                rotation=angle - 180 if left else angle,
                rotation_mode="anchor",
                ha="right" if left else "left",
                va="center",
                fontsize=6,
            )
        elif star:
            r = math.hypot(x, y) or 1.0
            side = "left" if x / r > 0.2 else ("right" if x / r < -0.2 else "center")
            ax.text(x * 1.12, y * 1.12, text, ha=side, va="center", fontsize=7)
        else:
            ax.text(
                x, y - 0.04, text, ha="center", va="top", fontsize=6 if crowded else 7, rotation=90 if crowded else 0
            )


def _title(rec: RunRecord, topo: dict, star: bool) -> str:
    s = rec.summary
    head = f"{str(s.get('policy', '?')).upper()}, {len(rec.node_ids())} nodes"
    if star:
        return head + ": no emulated topology (loopback or simulated)\nlinks show the figures the orchestrator scored"
    k = topo.get("dilation", 1.0)
    return head + f": the emulated edge-cloud tree (k = {k:g})\naccess links as the controller measured them"


def plot_network(rec: RunRecord, path: Path) -> Path:
    """Draw the run's network into `path` (network.png)."""
    import matplotlib.pyplot as plt

    fig = draw_network(rec)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
