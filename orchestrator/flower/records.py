"""The run folder of a Flower run: the same config.json, epochs.csv, node_epochs.csv,
syncs.csv, nodes.csv, summary.json and fidelity.json as an edgeft run
(orchestrator/results.py), so that reports and plots read either.

Columns Flower cannot observe stay empty: a node's download_s and upload_s (a
Flower message carries no per-hop timing), bytes_in/bytes_out (the SuperLink does
not count them per run here), bubble_s and coverage. `train_time_s` is the node's
claim (the server cannot measure it on this path, orchestrator/flower/node_book.py);
`round_trip_s` is what the server measured."""

from __future__ import annotations

import csv
import json
import math
import time
from pathlib import Path

from orchestrator.config import OrchestratorConfig
from orchestrator.fidelity import OVERRUN_RATIO, OVERRUN_SLACK_S, assess
from orchestrator.flower.node_book import EpochChoice, NodeBook
from orchestrator.results import Recorder, versions_of, wall_stamp
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

    def epoch(self, choice: EpochChoice) -> None:
        """The epochs.csv and node_epochs.csv rows of one round, as the epoch core built them
        (orchestrator/epoch_core.py): the same rows as `edgeft orchestrator`'s, less what this
        path cannot observe."""
        self.rec.epochs.write(choice.record.epoch_row)
        for row in choice.record.node_rows:
            self.rec.node_epochs.write(row)

    def sync(self, node_id: str, version: int, digest: str, expected: str) -> None:
        self.rec.syncs.write(
            {
                "node_id": node_id,
                "version": version,
                "digest": digest,
                "matches_orchestrator": digest == expected,
                "at": wall_stamp(time.time()),
            }
        )

    def finish(self, summary: dict, final_digests: dict[str, str], digest: str) -> dict:
        """nodes.csv, fidelity.json and summary.json; returns the summary."""
        self.rec.write_nodes(
            [
                {
                    "node_id": node.node_id,
                    "compute_power": node.compute_power,
                    "device": "",
                    "ip": node.ip or "",
                    "final_status": node.status.value,
                    "epochs_trained": node.epochs_trained,
                    "fail_reason": node.fail_reason,
                    "final_digest_matches": final_digests.get(node.node_id) == digest,
                    "setup_s": "",  # not measured on this path: the set-up's replies come back together
                }
                for node in self.book.nodes.values()
            ]
        )
        self.rec.close()
        with (self.dir / "node_epochs.csv").open() as rows:
            fidelity = assess(list(csv.DictReader(rows)), None, (0, 0), (0, 0))  # no emulated links on this path
        rule = f"compute_wall_s > {OVERRUN_RATIO} x train_time_s + {OVERRUN_SLACK_S} s"
        (self.dir / "fidelity.json").write_text(
            json.dumps({"dilation": self.cfg.emulation.k, **fidelity.as_dict(), "overrun_rule": rule}, indent=2)
        )
        summary = {**summary, **summary_columns(fidelity, self.cfg.emulation.k)}
        summary = {
            name: (None if isinstance(value, float) and math.isnan(value) else value) for name, value in summary.items()
        }
        self.rec.write_summary(summary)
        return summary
