"""The fidelity report of a finished run: fidelity.json next to its results, and
the headline figures for summary.json (the math is in orchestrator/fidelity.py)."""

from __future__ import annotations

import csv
import json
import logging

from edgeft.link_figures import LinkFigures
from orchestrator.fidelity import OVERRUN_RATIO, OVERRUN_SLACK_S, Fidelity, assess, transfer_pairs
from orchestrator.results import tcp_settings
from orchestrator.scenario import Scenario
from orchestrator.selection_context import load_truth

log = logging.getLogger(__name__)


def drawn_links(truth_file: str | None, scenario: Scenario, epochs: int) -> dict[tuple[str, int], LinkFigures] | None:
    """The drawn link of every (node, epoch), scenario changes applied; None without ground truth."""
    if not truth_file:
        return None
    out = {}
    for e in range(epochs):
        for nid, t in load_truth(truth_file, scenario, e).items():
            out[(nid, e)] = t.link
    return out


def write_fidelity(coord, scenario: Scenario) -> Fidelity:
    """Assess the run from its node_epochs.csv; write fidelity.json (and transfers.csv,
    every transfer phase predicted against measured, where links were emulated); warn
    loudly if the host did not keep up."""
    cfg, out = coord.cfg, coord.recorder.dir
    with (out / "node_epochs.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    links = (
        drawn_links(cfg.policy_options.truth_file, scenario, cfg.training.epochs)
        if cfg.emulation.emulated_links
        else None
    )
    size = len(coord.adapters[coord.version][0])
    sizes, pads = (size, size), (cfg.model_pad(), cfg.model_pad())
    tcp = tcp_settings()["congestion_control"]  # the hosts' (topologies/edge_cloud.py pins Reno on the routes)
    pairs = transfer_pairs(rows, links, sizes, pads, cfg.emulation.k, tcp) if links is not None else None
    fid = assess(rows, links, sizes, pads, cfg.emulation.k, pairs, tcp)
    if pairs is not None:
        _write_transfers(out / "transfers.csv", pairs)
    (out / "fidelity.json").write_text(
        json.dumps(
            {
                "dilation": cfg.emulation.k,
                **fid.as_dict(),
                "overrun_rule": f"compute_wall_s > {OVERRUN_RATIO} x train_time_declared_s + {OVERRUN_SLACK_S} s",
            },
            indent=2,
        )
    )
    if not fid.acceptable:
        log.warning(
            "FIDELITY: %.0f %% of node-epochs overran their compute window (p95 wall/window %.2f); this host did not "
            "keep up at dilation %.3g, so the times of this run are not the emulated world's: rerun with a larger "
            "--dilation",
            100 * fid.overrun_share,
            fid.overrun_p95,
            cfg.emulation.k,
        )
    return fid


def _write_transfers(path, phases) -> None:
    # The points behind transfer_r2, so that it can be plotted or pooled across runs.
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["node_id", "epoch", "direction", "predicted_s", "measured_s"])
        w.writerows((p.node_id, p.epoch, p.direction, round(p.predicted_s, 4), round(p.measured_s, 4)) for p in phases)


def summary_columns(fid: Fidelity, dilation: float) -> dict:
    d = fid.as_dict()  # NaN -> None: summary.json stays valid JSON
    return {
        "dilation": dilation,
        **{
            k: d[k]
            for k in ("overrun_share", "overrun_p95", "transfer_r2", "transfer_median_rel_err", "transfer_above_share")
        },
        "fidelity_ok": fid.acceptable,
    }
