"""Greedy generation from a finished run's model, before and after its fine-tuning:
the base model alone, then the base with the run's final LoRA adapter (from the
run folder's checkpoint). The prompt defaults to a line of the telemetry domain.

    .venv/bin/python experiments/generate.py runs/latest [--prompt "..."] [--tokens 32]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


PROMPT = "2026-01-15T00:04:04Z gw0 edge-09 temp="


def generate(model, tokenizer, prompt: str, tokens: int) -> str:
    ids = tokenizer(prompt, return_tensors="pt")
    out = model.generate(**ids, max_new_tokens=tokens, do_sample=False, pad_token_id=tokenizer.eos_token_id)
    return tokenizer.decode(out[0][ids["input_ids"].shape[1] :], skip_special_tokens=True)


def before_and_after(run_dir: Path, prompt: str, tokens: int) -> tuple[str, str]:
    from edgeft.modeling import load_adapter_state, with_lora
    from orchestrator import checkpoint
    from orchestrator.config import OrchestratorConfig
    from orchestrator.workload import load_base

    cfg = OrchestratorConfig.model_validate_json((run_dir / "orchestrator_config.json").read_text())
    model, tokenizer = load_base(cfg.model)
    before = generate(model, tokenizer, prompt, tokens)
    model = with_lora(model, cfg.model.lora, cfg.seed)
    try:
        adapter = checkpoint.load(run_dir, None)["adapter"]
    except ValueError as exc:
        raise ValueError(f"{run_dir} holds no finished run's adapter ({str(exc).split(';')[0]})") from None
    load_adapter_state(model, adapter)
    return before, generate(model, tokenizer, prompt, tokens)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run", type=Path, help="a finished run folder (orchestrator_config.json, checkpoint.safetensors)")
    ap.add_argument("--prompt", default=PROMPT)
    ap.add_argument("--tokens", type=int, default=32)
    a = ap.parse_args()
    try:
        before, after = before_and_after(a.run, a.prompt, a.tokens)
    except (OSError, ValueError) as exc:
        print(f"generate: error: {' '.join(str(exc).split())[:300]}", file=sys.stderr)
        return 2
    print(f"prompt: {a.prompt!r}\nbefore fine-tuning: {before!r}\nafter fine-tuning:  {after!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
