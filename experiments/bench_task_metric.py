"""What a fine-tuned model can do on the telemetry domain, as a score a reader understands (issue 30,
item 7): the share of held-out log-line fields it completes exactly (edgeft/task_metric.py), for the
base model before fine-tuning and for the final adapter of each finished run, grouped by policy, with
a mean and every seed. Also prints two greedy generations per model from the same prompts.

    .venv/bin/python experiments/bench_task_metric.py RUN_DIR [RUN_DIR ...] [--lines 200] [--context-lines 0]

A RUN_DIR is a finished run folder (orchestrator_config.json and checkpoint.safetensors, whose last
checkpoint holds the final adapter), or its checkpoint.safetensors. Every run must share one base model
and LoRA shape. The held-out lines exclude every line of every run's training corpus.
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from edgeft.datasets import encode

from edgeft.task_metric import (
    Score,
    HeldOutLine,
    encode_line,
    field_spans,
    greedy_completion,
    greedy_field_match,
    held_out_lines,
    score_lines,
    separator_ids,
    summarize,
)

log = logging.getLogger("bench_task_metric")
FIELDS = ("gw", "edge", "reading", "batt", "rssi", "status")


@dataclass
class Run:
    """One finished run: where it is, its settings and its final adapter."""

    folder: Path
    config: object  # orchestrator.config.OrchestratorConfig
    adapter: dict[str, torch.Tensor]
    final_loss: float | None


def load_run(path: Path) -> Run:
    """A run folder (or its checkpoint file) with its final adapter; ValueError naming the fix."""
    from orchestrator import checkpoint
    from orchestrator.config import OrchestratorConfig

    folder = path.parent if path.is_file() else path
    config_file = folder / "orchestrator_config.json"
    if not config_file.is_file():
        raise ValueError(f"{folder}: no orchestrator_config.json; give a finished run folder")
    config = OrchestratorConfig.model_validate_json(config_file.read_text())
    if config.data.dataset != "telemetry":
        raise ValueError(f"{folder}: trained on '{config.data.dataset}'; the task score is for the telemetry dataset")
    try:
        adapter = checkpoint.load(folder, None)["adapter"]
    except ValueError as exc:
        raise ValueError(f"{folder} holds no finished run's adapter ({str(exc).split(';')[0]})") from None
    summary = folder / "summary.json"
    final_loss = json.loads(summary.read_text()).get("final_val_loss") if summary.is_file() else None
    return Run(folder, config, adapter, final_loss)


def check_same_base(runs: list[Run]) -> None:
    """All runs must be comparable: one base model, one LoRA shape."""
    shapes = {
        (run.config.model.name, run.config.model.base_model_path, run.config.model.lora.model_dump_json())
        for run in runs
    }
    if len(shapes) > 1:
        raise ValueError(
            f"the runs use different base models or LoRA settings ({sorted(shapes)[:2]}); compare one at a time"
        )


def generations(model, tokenizer, prompts: list[str], tokens: int) -> list[str]:
    """Greedy continuations of `prompts` (what a user would see)."""
    out = []
    for prompt in prompts:
        ids = encode(tokenizer, prompt)
        written = greedy_completion(model, tokenizer, ids, tokens)
        out.append(tokenizer.decode(written, skip_special_tokens=True))
    return out


def prompt_of(held: HeldOutLine) -> str:
    """The log so far and the line's timestamp: the model writes the record from its first field. The space
    before that field is left to the model, as its tokenizer joins a space to the word after it (a prompt
    ending in a bare space is a token sequence the model never saw)."""
    return held.context + held.line[: field_spans(held.line)[0].start].rstrip(" ")


def greedy_agreement(model, tokenizer, lines: list[HeldOutLine], scored) -> tuple[int, int]:
    """How many (field, prompt) pairs of `lines` real greedy decoding scores as the teacher-forced rule did."""
    separators = separator_ids(tokenizer)
    agree = total = 0
    for held, results in zip(lines, scored):
        ids, ends, spans = encode_line(tokenizer, held)
        for span, result in zip(spans, results):
            for start, flag in ((span.start, result.field), (span.value_start, result.value)):
                agree += flag == greedy_field_match(model, tokenizer, ids, ends, start, span.end, separators)
                total += 1
    return agree, total


def measure(model, tokenizer, held: list[HeldOutLine], options) -> dict:
    """Score, generations and (optionally) the greedy cross-check of one model."""
    model.eval()
    started = time.monotonic()
    scored = score_lines(model, tokenizer, held, batch_size=options.batch_size)
    seconds = time.monotonic() - started
    row = {"score": summarize(scored), "seconds": seconds}
    row["generations"] = generations(model, tokenizer, [prompt_of(h) for h in held[: options.prompts]], options.tokens)
    if options.check_greedy:
        row["greedy"] = greedy_agreement(model, tokenizer, held[: options.check_greedy], scored)
    return row


def evaluate(runs: list[Run], options) -> tuple[list[HeldOutLine], dict, list[dict]]:
    """The base model's row and one row per run, on one held-out set."""
    from edgeft.modeling import load_adapter_state, with_lora
    from orchestrator.workload import load_base, load_documents

    training = [doc for run in runs for doc in load_documents(run.config.data, run.config.seed)]
    held = held_out_lines(options.lines, training, context_lines=options.context_lines)
    model, tokenizer = load_base(runs[0].config.model)
    before = measure(model, tokenizer, held, options)
    log.info("before fine-tuning: field exact match %.3f (%.0f s)", before["score"].field_match, before["seconds"])
    model = with_lora(model, runs[0].config.model.lora, runs[0].config.seed)
    rows = []
    for run in runs:
        load_adapter_state(model, run.adapter)
        row = {"run": run, **measure(model, tokenizer, held, options)}
        log.info("%s: field exact match %.3f (%.0f s)", run.folder, row["score"].field_match, row["seconds"])
        rows.append(row)
    return held, before, rows


def _pct(value: float) -> str:
    return f"{100 * value:.1f} %"


def _cells(score: Score) -> str:
    fields = " | ".join(_pct(score.per_field[name][0]) if name in score.per_field else "" for name in FIELDS)
    return f"{_pct(score.field_match)} | {_pct(score.value_match)} | {fields}"


def per_run_table(before: dict, rows: list[dict]) -> str:
    """Every model, one row each: the overall shares and the field exact match of every field."""
    head = "| model | seed | final val loss | field exact | value exact | " + " | ".join(FIELDS) + " |"
    lines = [head, "|" + "---|" * (5 + len(FIELDS)), f"| before fine-tuning | | | {_cells(before['score'])} |"]
    for row in rows:
        run = row["run"]
        loss = f"{run.final_loss:.3f}" if run.final_loss is not None else ""
        lines.append(f"| {run.config.policy.upper()} | {run.config.seed} | {loss} | {_cells(row['score'])} |")
    return "\n".join(lines)


def policy_table(before: dict, rows: list[dict]) -> str:
    """Before / each policy: the mean over seeds, every seed, and the spread (max - min) over seeds."""
    lines = [
        "| model | runs | field exact match, mean | per seed | spread over seeds | value exact match, mean |",
        "|---|---|---|---|---|---|",
        f"| before fine-tuning | 1 | {_pct(before['score'].field_match)} | | | {_pct(before['score'].value_match)} |",
    ]
    for policy in dict.fromkeys(row["run"].config.policy for row in rows):
        mine = [row for row in rows if row["run"].config.policy == policy]
        shares = [row["score"].field_match for row in mine]
        seeds = ", ".join(f"{row['run'].config.seed}: {_pct(row['score'].field_match)}" for row in mine)
        values = statistics.mean(row["score"].value_match for row in mine)
        lines.append(
            f"| {policy.upper()} | {len(mine)} | {_pct(statistics.mean(shares))} | {seeds} | "
            f"{_pct(max(shares) - min(shares))} | {_pct(values)} |"
        )
    return "\n".join(lines)


def report(held: list[HeldOutLine], before: dict, rows: list[dict], options) -> str:
    """The tables, the baselines a reader needs to judge them, and the generations."""
    score = before["score"]
    statuses = [held_line.line.rsplit("status=", 1)[-1] for held_line in held]
    out = [
        f"held-out lines: {score.lines} ({score.fields} fields), context lines: {options.context_lines}; "
        f"status OK in {_pct(statuses.count('OK') / len(statuses))} of them (always writing OK scores that on status)",
        "",
        policy_table(before, rows),
        "",
        per_run_table(before, rows),
        "",
    ]
    for index, held_line in enumerate(held[: options.prompts]):
        out.append(f"prompt {index + 1}: {prompt_of(held_line)!r} (true line: {held_line.line!r})")
        out.append(f"  before fine-tuning: {before['generations'][index]!r}")
        for row in rows:
            run = row["run"]
            out.append(f"  {run.config.policy.upper()} seed {run.config.seed}: {row['generations'][index]!r}")
    for name, row in [("before fine-tuning", before)] + [(str(row["run"].folder), row) for row in rows]:
        check = f", greedy decoding agrees on {row['greedy'][0]}/{row['greedy'][1]}" if "greedy" in row else ""
        out.append(f"{name}: scored in {row['seconds']:.0f} s{check}")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", type=Path, help="finished run folders (or their checkpoint.safetensors)")
    parser.add_argument("--lines", type=int, default=200, help="held-out lines (each has 6 fields)")
    parser.add_argument("--context-lines", type=int, default=0, help="lines of the same log before each prompt")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--prompts", type=int, default=2, help="generations shown per model")
    parser.add_argument("--tokens", type=int, default=40, help="tokens per generation")
    parser.add_argument("--check-greedy", type=int, default=0, help="cross-check N lines by real greedy decoding")
    options = parser.parse_args(argv)
    for name in ("lines", "batch_size"):
        if getattr(options, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1")
    for name in ("context_lines", "prompts", "check_greedy"):
        if getattr(options, name) < 0:
            parser.error(f"--{name.replace('_', '-')} must be >= 0")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        runs = [load_run(path) for path in options.runs]
        check_same_base(runs)
        held, before, rows = evaluate(runs, options)
    except (OSError, ValueError) as exc:
        print(f"bench_task_metric: error: {' '.join(str(exc).split())[:300]}", file=sys.stderr)
        return 2
    print(report(held, before, rows, options))
    return 0


if __name__ == "__main__":
    sys.exit(main())
