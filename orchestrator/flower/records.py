"""The run folder of a Flower run: the same config.json, epochs.csv, node_epochs.csv,
syncs.csv, nodes.csv, summary.json and fidelity.json as an edgeft run
(orchestrator/results.py), so that reports and plots read either.

Columns Flower cannot observe stay empty: a node's download_s and upload_s (a
Flower message carries no per-hop timing), bytes_in/bytes_out (the SuperLink does
not count them per run here), bubble_s and coverage. `train_time_s` is the node's
claim (the server cannot measure it on this path, orchestrator/flower/selection.py);
`round_trip_s` is what the server measured."""

from __future__ import annotations

import csv
import json
import math
import time
from dataclasses import asdict
from pathlib import Path

from edgeft.flower_contract import TrainReport
from orchestrator.config import OrchestratorConfig
from orchestrator.fidelity import OVERRUN_RATIO, OVERRUN_SLACK_S, assess
from orchestrator.flower.selection import EpochChoice, NodeBook
from orchestrator.network_view import FIGURES
from orchestrator.results import Recorder, versions_of
from orchestrator.run_fidelity import summary_columns


class FlowerRecorder:
    """Rows as they happen (a crash keeps what was measured), the summary at the end."""

    def __init__(self, out_dir: str | Path, cfg: OrchestratorConfig, book: NodeBook) -> None:
        self.cfg, self.book = cfg, book
        config = {
            **cfg.model_dump(mode="json"),
            "engine": "flower",
            "engine_versions": versions_of(("flwr", "fastapi", "uvicorn")),
        }
        self.rec = Recorder(out_dir, config, cfg.seed)
        self.dir = self.rec.dir
        self.started = time.time()

    def epoch(
        self,
        epoch: int,
        version: int,
        expected: list[str],
        reports: dict[str, TrainReport],
        failures: dict[str, str],
        choice: EpochChoice,
        val_loss: float,
        digest: str,
        round_s: float,
    ) -> None:
        """epochs.csv and node_epochs.csv rows of one round; `round_s`: wall seconds of the round."""
        tokens = sum(r.tokens for r in reports.values()) or 1
        self.rec.epochs.write(
            {
                "epoch": epoch,
                "version": version,
                "active": len(expected),
                "active_nodes": ";".join(sorted(expected)),
                "eliminated": ";".join(choice.dropped),
                "readmitted": ";".join(choice.readmitted),
                "failed": ";".join(sorted(failures)),
                "scores": {i: round(s, 6) for i, s in choice.decision.scores.items()},
                "train_loss": sum(r.loss * r.tokens for r in reports.values()) / tokens,
                "val_loss": val_loss,
                "epoch_time_s": round_s / self.cfg.emulation.k,
                "adapter_digest": digest,
            }
        )
        for nid in sorted(expected):
            self.rec.node_epochs.write(self._node_row(epoch, nid, reports.get(nid), failures, choice))

    def _node_row(
        self, epoch: int, nid: str, r: TrainReport | None, failures: dict[str, str], choice: EpochChoice
    ) -> dict:
        m = choice.snap.get(nid)
        row = {
            "epoch": epoch,
            "node_id": nid,
            "status": "failed" if nid in failures else ("eliminated" if nid in choice.dropped else "active"),
            "score": choice.decision.scores.get(nid, ""),
            "compute_power": self.book.nodes[nid].compute_power,
            "missing_figures": ";".join(m.missing if m else FIGURES),
        }
        if m:
            row.update(**asdict(m.link), metrics_stale=m.stale, loss_scored_pct=m.loss_for_scoring)
            row.update(loss_samples=m.loss_samples, capacity_mbps=m.capacity_mbps, capacity_source=m.capacity_source)
        if r:
            # T_i as the scorer used it: the node's claim, not measurable here (orchestrator/flower/selection.py)
            row.update(train_time_s=r.train_time_s, compute_wall_s=r.compute_wall_s, loss=r.loss)
            row.update(train_time_declared_s=r.train_time_s, train_time_flagged=choice.flagged.get(nid, ""))
            row.update(samples=r.samples, tokens=r.tokens, work_gflop=r.work_gflop)
            row["round_trip_s"] = self.book.history[nid].round_time_s
        return row

    def sync(self, node_id: str, version: int, digest: str, expected: str) -> None:
        self.rec.syncs.write(
            {
                "node_id": node_id,
                "version": version,
                "digest": digest,
                "matches_orchestrator": digest == expected,
                "at": time.time(),
            }
        )

    def finish(self, summary: dict, final_digests: dict[str, str], digest: str) -> dict:
        """nodes.csv, fidelity.json and summary.json; returns the summary."""
        self.rec.write_nodes(
            [
                {
                    "node_id": n.node_id,
                    "compute_power": n.compute_power,
                    "device": "",
                    "ip": n.ip or "",
                    "final_status": n.status.value,
                    "epochs_trained": n.epochs_trained,
                    "fail_reason": n.fail_reason,
                    "final_digest_matches": final_digests.get(n.node_id) == digest,
                }
                for n in self.book.nodes.values()
            ]
        )
        self.rec.close()
        with (self.dir / "node_epochs.csv").open() as fh:
            fid = assess(list(csv.DictReader(fh)), None, (0, 0), (0, 0))  # no emulated links on this path
        rule = f"compute_wall_s > {OVERRUN_RATIO} x train_time_s + {OVERRUN_SLACK_S} s"
        (self.dir / "fidelity.json").write_text(
            json.dumps({"dilation": self.cfg.emulation.k, **fid.as_dict(), "overrun_rule": rule}, indent=2)
        )
        summary = {**summary, **summary_columns(fid, self.cfg.emulation.k)}
        summary = {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in summary.items()}
        self.rec.write_summary(summary)
        return summary
