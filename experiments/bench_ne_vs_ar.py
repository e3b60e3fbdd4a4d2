"""NE vs AR benchmark (as root): runs `edgeft compare` for each scenario and
prints, in one run per scenario, NE completion time / AR completion time (goal
<= 0.5), NE final validation loss / AR final validation loss (goal <= 1.02) and
the mean per-epoch time breakdown per node (download, compute, upload, waiting).

    sudo .venv/bin/python experiments/bench_ne_vs_ar.py                 # the demo scenario: 12 nodes, Setup 2
    sudo .venv/bin/python experiments/bench_ne_vs_ar.py --nodes 12,40   # and 40 nodes
"""
from __future__ import annotations

import argparse
import csv
import json
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from edgeft.cli import main as edgeft_main  # noqa: E402

PARTS = ("download_s", "train_time_s", "upload_s", "waiting_s")


def breakdown(run: Path) -> dict[str, float]:
    with (run / "node_epochs.csv").open() as fh:
        rows = [r for r in csv.DictReader(fh) if r["train_time_s"]]
    return {k: statistics.mean(float(r[k]) for r in rows) for k in PARTS} if rows else {k: 0.0 for k in PARTS}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--nodes", default="12")
    p.add_argument("--setup", type=int, default=2)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--out", default="results/bench_ne_vs_ar")
    a = p.parse_args()
    for n in [int(x) for x in a.nodes.split(",")]:
        out = Path(a.out) / f"n{n}"
        rc = edgeft_main(["compare", "--nodes", str(n), "--setups", str(a.setup), "--policies", "ne,ar", "--epochs", str(a.epochs),
                          "--out", str(out)])
        if rc != 0:
            return rc
        s = {pol: json.loads((out / f"n{n}-setup{a.setup}-seed0-{pol}" / "summary.json").read_text()) for pol in ("ne", "ar")}
        t = s["ne"]["completion_time_s"] / s["ar"]["completion_time_s"]
        l = s["ne"]["final_val_loss"] / s["ar"]["final_val_loss"]
        print(f"\n{n} nodes, Setup {a.setup}, {a.epochs} epochs: NE {s['ne']['completion_time_s']:.1f} s vs AR {s['ar']['completion_time_s']:.1f} s "
              f"-> time ratio {t:.2f} (goal <= 0.5); loss {s['ne']['final_val_loss']:.3f} vs {s['ar']['final_val_loss']:.3f} "
              f"-> loss ratio {l:.3f} (goal <= 1.02)")
        for pol in ("ne", "ar"):
            b = breakdown(out / f"n{n}-setup{a.setup}-seed0-{pol}")
            print(f"  {pol.upper()} mean per node and epoch: " + ", ".join(f"{k.removesuffix('_s')} {v:.2f} s" for k, v in b.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
