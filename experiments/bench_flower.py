"""edgeft's own orchestrator against the Flower path (issue: edgeft's policies as a
Flower strategy), on loopback: N nodes x R rounds with the same policy, model, data,
seed, drawn compute powers, compute emulation and time dilation k (calibrated once,
then given to both). Per seed it runs `edgeft local` and `edgeft flower` one after
the other and prints, from what each run measured:

- wall seconds per round (epochs.csv: epoch_time_s x k) of each, and their ratio
  Flower / edgeft (target <= 1.5);
- bytes per round, set-up included: edgeft's own count of the HTTP bodies it sent and
  received (summary.json bytes_in + bytes_out) against the Fleet API traffic Flower's
  SuperLink counted for the run (`flwr ls`: network-traffic), and the difference;
- the share of node-epochs whose compute overran its window in each (the host keeping up),
  and whether each engine's runs were faithful (every seed <= 5 %). k is calibrated for
  the Flower path (its per-message ClientApp processes counted, docs/time-model.md) and
  given to both; above --max-dilation (default 32 here) the bench refuses, naming the k.

Over --seeds (default 0,1,2): mean and 95 % CI.

    .venv/bin/python experiments/bench_flower.py [--nodes 12] [--rounds 10] [--seeds 0,1,2] [--policy ne]
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import statistics
from pathlib import Path

from edgeft.clock import Clock
from experiments.reports.stats import fmt_ci
from experiments.runners.flower_local import run_flower_local
from experiments.runners.local import run_local, with_dilation
from orchestrator.config import OrchestratorConfig
from topologies.profiles import draw_profiles

log = logging.getLogger("bench_flower")


def _round_wall_s(out: Path, k: float) -> float:
    """A run's mean epoch on the wall (epochs.csv reports them in the emulated world's seconds)."""
    clock = Clock(k)
    with (out / "epochs.csv").open() as fh:
        return statistics.fmean(clock.to_wall(float(row["epoch_time_s"])) for row in csv.DictReader(fh))


def one_seed(args: argparse.Namespace, seed: int) -> dict:
    cfg = OrchestratorConfig.model_validate(
        {
            "nodes": args.nodes,
            "policy": args.policy,
            "seed": seed,
            "training": {"epochs": args.rounds},
            "model": {"distribution": "preinstalled"},  # the Flower path moves no base: neither does edgeft here
            "emulation": {"max_dilation": args.max_dilation},
        }
    )
    # One k, given to both runs: the Flower path's (it counts the per-message ClientApp processes),
    # which keeps edgeft's windows too. Above --max-dilation the bench refuses, naming the k.
    cfg = with_dilation(cfg, draw_profiles(args.nodes, 2, seed), "local", engine="flower")
    k = cfg.emulation.k
    own, flower = Path(args.out) / f"seed{seed}" / "edgeft", Path(args.out) / f"seed{seed}" / "flower"
    if run_local(cfg.model_copy(update={"out_dir": str(own)}), setup=2) != 0:
        raise SystemExit(f"edgeft run failed: see {own / 'logs'}")
    fs = run_flower_local(cfg.model_copy(update={"out_dir": str(flower)}), setup=2)
    es = json.loads((own / "summary.json").read_text())
    traffic = json.loads((flower / "flower_run.json").read_text())["network-traffic"]["total-bytes"]
    row = {
        "seed": seed,
        "k": k,
        "edgeft_round_s": _round_wall_s(own, k),
        "flower_round_s": _round_wall_s(flower, k),
        "edgeft_bytes_per_round": (es["bytes_in"] + es["bytes_out"]) / args.rounds,
        "flower_bytes_per_round": traffic / args.rounds,
        "edgeft_overrun_share": es["overrun_share"],
        "flower_overrun_share": fs["overrun_share"],
        "edgeft_final_loss": es["final_val_loss"],
        "flower_final_loss": fs["final_val_loss"],
    }
    row["ratio"] = row["flower_round_s"] / row["edgeft_round_s"]
    row["extra_bytes_per_round"] = row["flower_bytes_per_round"] - row["edgeft_bytes_per_round"]
    log.info("seed %d: %s", seed, row)
    return row


def _faithful(shares: list[float]) -> str:
    """'faithful' when every run kept its compute windows (overrun share <= 5 %, docs/time-model.md)."""
    return "faithful" if all(s <= 0.05 for s in shares) else f"NOT faithful: worst {100 * max(shares):.0f} %"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--nodes", type=int, default=12)
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--policy", default="ne")
    ap.add_argument("--out", default="results/bench_flower")
    ap.add_argument(
        "--max-dilation",
        type=float,
        default=32.0,
        help="cap on the calibrated k; the Flower path's per-message processes need a large one (docs/time-model.md)",
    )
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    rows = [one_seed(args, int(s)) for s in args.seeds.split(",")]
    Path(args.out).mkdir(parents=True, exist_ok=True)
    with (Path(args.out) / "results.csv").open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    col = lambda key: [r[key] for r in rows]  # noqa: E731
    print(f"{args.nodes} nodes x {args.rounds} rounds, policy {args.policy}, {len(rows)} seeds (mean ± 95 % CI):")
    print(f"  wall s per round   edgeft {fmt_ci(col('edgeft_round_s'))}   Flower {fmt_ci(col('flower_round_s'))}")
    print(f"  ratio Flower/edgeft {fmt_ci(col('ratio'))}  (target <= 1.5)")
    print(
        f"  bytes per round    edgeft {fmt_ci(col('edgeft_bytes_per_round'), '.0f')}   "
        f"Flower {fmt_ci(col('flower_bytes_per_round'), '.0f')}   extra {fmt_ci(col('extra_bytes_per_round'), '.0f')}"
    )
    own, flwr = col("edgeft_overrun_share"), col("flower_overrun_share")
    print(f"  overrun share      edgeft {fmt_ci(own)} ({_faithful(own)})   Flower {fmt_ci(flwr)} ({_faithful(flwr)})")
    print(f"  dilation k         {', '.join(f'{k:g}' for k in col('k'))} (per seed)")
    print(
        f"  final val loss     edgeft {fmt_ci(col('edgeft_final_loss'), '.3f')}   "
        f"Flower {fmt_ci(col('flower_final_loss'), '.3f')}"
    )
    print(f"rows: {Path(args.out) / 'results.csv'}")


if __name__ == "__main__":
    main()
