"""NE vs AR (or any policies) on loopback (no root, no Mininet): the same drawn
compute and link figures for every policy, then tables and plots.

    .venv/bin/python -m experiments.demo_local --nodes 12 --epochs 10 --setup 2 --out results/demo
    .venv/bin/python -m experiments.demo_local --policies ne,ne_plus --config experiments/scenarios/degrade_recover.yaml
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from edgeft.config_files import ConfigError, build, read_file
from experiments.runners.local import run_local
from experiments.reports.report import load_run, loss_curve, write_report
from orchestrator.config import OrchestratorConfig


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--nodes", type=int, default=12)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--setup", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--config", help="orchestrator config file (YAML/TOML/JSON)")
    p.add_argument("--policies", default="ne,ar", help="comma-separated policies (docs/policies.md)")
    p.add_argument("--out", default="results/demo")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    out = Path(args.out)
    rows, curves = [], {}
    try:
        base = read_file(args.config) if args.config else {}
        policies = [x.strip() for x in args.policies.split(",") if x.strip()]
        cfgs = [
            build(
                OrchestratorConfig,
                base,
                {
                    "nodes": args.nodes,
                    "training.epochs": args.epochs,
                    "policy": policy,
                    "seed": args.seed,
                    "out_dir": str(out / policy),
                },
            )
            for policy in policies
        ]
        for policy, cfg in zip(policies, cfgs):  # every config is checked before the first run starts
            if run_local(cfg, setup=args.setup) != 0:
                return 1
            summary, epochs = load_run(out / policy)
            rows.append(
                {**summary, "setup": args.setup, "mode": "local", "engine": "loopback", "run_dir": str(out / policy)}
            )
            curves[policy.upper()] = loss_curve(summary, epochs)
    except ConfigError as exc:
        print(f"demo: error: {exc}", file=sys.stderr)
        return 2
    table = write_report(out, rows, curves, "Node selection on loopback (no network emulation)")
    print("\n" + table)
    print(f"results, plots and per-run folders in {out}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
