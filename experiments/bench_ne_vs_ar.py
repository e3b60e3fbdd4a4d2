"""NE vs AR (and the policy suite) over seeds, in Mininet (as root): runs
`edgeft compare` and prints, per policy, completion time and final loss as mean
± 95 % CI over the seeds, the per-seed paired ratios to AR (goal for NE:
time <= 0.5, loss <= 1.02), and the fidelity of the runs (overrun share,
transfer R²), so that a figure the host distorted is never read as a result.

    sudo .venv/bin/python experiments/bench_ne_vs_ar.py                              # 12 nodes, Setup 2, seeds 0,1,2
    sudo .venv/bin/python experiments/bench_ne_vs_ar.py --nodes 40
    sudo .venv/bin/python experiments/bench_ne_vs_ar.py --paper-volumes 0.004        # the paper's traffic, scaled
    sudo .venv/bin/python experiments/bench_ne_vs_ar.py --policies ne,ar,random,oracle,fedcs,oort,tifl,ne_plus
    .venv/bin/python experiments/bench_ne_vs_ar.py --report-only results/bench_ne_vs_ar/n12-s2-real   # tables again

Results accumulate in --out (one compare folder per scenario): a (seed, policy)
pair already in the scenario's results.csv is not run again (the finished rows
of a sweep cut short are folded in first), so a long sweep can be continued
across sessions.
"""

from __future__ import annotations

import argparse
import csv
import statistics
import sys
from pathlib import Path


from experiments.reports.stats import fmt_ci, mean_ci95

# train_time_declared_s: the node's compute window; train_time_s (the orchestrator's measured T_i) adds its overhead
PARTS = ("download_s", "train_time_declared_s", "compute_wall_s", "upload_s", "waiting_s")


def read_rows(folder: Path) -> list[dict]:
    path = folder / "results.csv"
    if not path.exists():
        return []
    with path.open() as fh:
        return list(csv.DictReader(fh))


def breakdown(run: Path) -> dict[str, float]:
    with (run / "node_epochs.csv").open() as fh:
        rows = [r for r in csv.DictReader(fh) if r.get("train_time_declared_s") or r.get("train_time_s")]
    for row in rows:  # run folders written before the orchestrator measured T_i hold the window in train_time_s
        row["train_time_declared_s"] = row.get("train_time_declared_s") or row["train_time_s"]
    return {k: statistics.mean(float(r[k]) for r in rows) for k in PARTS} if rows else {}


def report(rows: list[dict], title: str) -> str:
    """Markdown tables: per policy over seeds, and paired ratios to AR."""
    by = {}
    for r in rows:
        by.setdefault(r["policy"], {})[int(r["seed"])] = r
    seeds = sorted({int(r["seed"]) for r in rows})
    lines = [
        f"### {title}: seeds {','.join(map(str, seeds))} (mean ± 95 % CI)",
        "",
        "| policy | runs | completion (s) | final loss | time / AR | loss / AR | overrun share | transfer R² | k |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    ar = by.get("ar", {})
    order = sorted(by, key=lambda p: mean_ci95([float(r["completion_time_s"]) for r in by[p].values()])[0])
    for pol in order:
        runs = by[pol]
        paired = [s for s in runs if s in ar]
        t_ratio = [float(runs[s]["completion_time_s"]) / float(ar[s]["completion_time_s"]) for s in paired]
        l_ratio = [float(runs[s]["final_val_loss"]) / float(ar[s]["final_val_loss"]) for s in paired]
        r2 = [float(r["transfer_r2"]) for r in runs.values() if r.get("transfer_r2") not in ("", None)]
        lines.append(
            f"| {pol} | {len(runs)} | {fmt_ci([float(r['completion_time_s']) for r in runs.values()], '.1f')} | "
            f"{fmt_ci([float(r['final_val_loss']) for r in runs.values()], '.3f')} | "
            f"{fmt_ci(t_ratio) if t_ratio and pol != 'ar' else '-'} | "
            f"{fmt_ci(l_ratio, '.3f') if l_ratio and pol != 'ar' else '-'} | "
            f"{_max_share(runs.values())} | "
            f"{(f'{min(r2):.3f} min' if r2 else 'n/a')} | {','.join(sorted({r['dilation'] for r in runs.values()}))} |"
        )
    bad = [f"{r['policy']} seed {r['seed']}" for r in rows if r.get("fidelity_ok") not in ("True", True)]
    if bad:
        lines.append(f"\n(!) the host did not keep up in: {', '.join(bad)}; their times are not the emulated world's.")
    return "\n".join(lines) + "\n"


def _max_share(runs) -> str:
    shares = [float(r["overrun_share"]) for r in runs if r.get("overrun_share") not in ("", None)]
    return f"{max(shares):.1%} max" if shares else "n/a"


def missing_runs(done: set[tuple[str, str]], seeds: list[str], policies: list[str]) -> dict[tuple[str, ...], list[str]]:
    """Seeds grouped by the policies they still lack, so a continued sweep runs only (seed, policy) pairs not yet in
    results.csv: one compare per group keeps each seed's policies on one drawn network."""
    groups: dict[tuple[str, ...], list[str]] = {}
    for s in seeds:
        lacking = tuple(p for p in policies if (s, p) not in done)
        if lacking:
            groups.setdefault(lacking, []).append(s)
    return groups


def run_scenario(options: argparse.Namespace, nodes: int, out: Path) -> int:
    from experiments.runners.mininet_sweep import main as compare_main  # the runner itself, not the CLI around it

    if read_rows(out / "pending"):  # rows of a sweep that was cut short are kept, not run again
        merge(out, out / "pending")
    done = {(r["seed"], r["policy"]) for r in read_rows(out)}
    rc = 0
    for policies, seeds in missing_runs(done, options.seeds.split(","), options.policies.split(",")).items():
        args = ["--nodes", str(nodes), "--setups", str(options.setup), "--policies", ",".join(policies)]
        args += ["--epochs", str(options.epochs), "--seeds", ",".join(seeds), "--out", str(out / "pending")]
        if options.paper_volumes:
            args += ["--paper-volumes", str(options.paper_volumes)]
        if options.dilation:
            args += ["--dilation", options.dilation]
        if options.model != "tiny":
            args += ["--model", options.model]
        rc = compare_main(args) or rc
        merge(out, out / "pending")
    return rc


def merge(out: Path, pending: Path) -> None:
    """Fold a finished compare folder's rows into the scenario's results.csv."""
    from experiments.reports.report import write_results

    new = read_rows(pending)
    rerun = {(n["seed"], n["policy"]) for n in new}
    keep = [r for r in read_rows(out) if (r["seed"], r["policy"]) not in rerun]
    for r in keep:  # rows written before results.csv had an engine column: this benchmark runs in Mininet
        r["engine"] = r.get("engine") or "mininet"
    for r in new:
        run = Path(r["run_dir"])
        target = out / run.name
        if run.exists():
            if target.exists():
                import shutil

                shutil.rmtree(target)
            run.rename(target)
        r["run_dir"] = str(target)
    write_results(out, keep + new)
    (pending / "results.csv").unlink(missing_ok=True)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--nodes", default="12", help="comma-separated node counts")
    p.add_argument("--setup", type=int, default=2)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--policies", default="ne,ar")
    p.add_argument("--paper-volumes", type=float, default=0.0, metavar="S")
    p.add_argument("--dilation", default=None, help="passed to edgeft compare (default: auto)")
    p.add_argument("--model", default="tiny", help="passed to edgeft compare: tiny or smollm2-135m")
    p.add_argument("--out", default="results/bench_ne_vs_ar")
    p.add_argument(
        "--report-only", nargs="*", default=None, metavar="DIR", help="print the tables of finished scenario folders"
    )
    a = p.parse_args()
    if a.report_only is not None:
        for d in a.report_only:
            print(report(read_rows(Path(d)), Path(d).name))
        return 0
    rc = 0
    for n in [int(x) for x in a.nodes.split(",")]:
        regime = f"paper{a.paper_volumes:g}" if a.paper_volumes else "real"
        out = Path(a.out) / (f"n{n}-s{a.setup}-{regime}" + ("" if a.model == "tiny" else f"-{a.model}"))
        out.mkdir(parents=True, exist_ok=True)
        rc = run_scenario(a, n, out) or rc
        rows = read_rows(out)
        title = (
            f"{n} nodes, Setup {a.setup}, {a.epochs} epochs, "
            + ("" if a.model == "tiny" else f"{a.model}, ")
            + (f"paper volumes x{a.paper_volumes:g}" if a.paper_volumes else "real artifacts")
        )
        table = report(rows, title)
        (out / "bench.md").write_text(table)
        print("\n" + table)
        for r in rows:
            b = breakdown(Path(r["run_dir"]))
            print(
                f"  {r['policy']} seed {r['seed']} mean per node-epoch: "
                + ", ".join(f"{k.removesuffix('_s')} {v:.2f} s" for k, v in b.items())
            )
    return rc


if __name__ == "__main__":
    sys.exit(main())
