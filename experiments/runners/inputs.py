"""The user's inputs, checked before anything starts: shared by the `edgeft` command
(experiments/cli.py) and the runners behind it, so that a bad flag, path or model folder
is one line and exit 2 whichever command was typed.

Here: the orchestrator config a command builds from --config and its flags, the paths in
it made absolute, the model folder checked, the run folder guarded, a secret read from a
file, and the `--seeds` syntax (a comma list or an inclusive range A-B) that compare and
simulate share.
"""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path

from edgeft.config_files import ConfigError, build, read_file

EXIT_CONFIG = 2
TOKEN_ENV = "EDGEFT_TOKEN"
MAX_SEED = 2**32 - 1  # numpy's seed range: a larger seed is refused later anyway, and less clearly
MAX_SEEDS = 100_000  # a range that long is a typo, not a sweep

PATH_FIELDS = (
    "out_dir",
    "data.dataset",
    "model.base_model_path",
    "model.cache_dir",
    "metrics.static_file",
    "policy_options.truth_file",
    "tls.certfile",
    "tls.keyfile",
    "enrolment.credentials_file",
)
# flags whose dest is an orchestrator config field without a dot
TOP_LEVEL_FIELDS = {"nodes", "policy", "seed", "out_dir", "device", "host", "port"}


def parse_seeds(text: str) -> list[int]:
    """`--seeds`: a comma list (`0,3,7`), an inclusive range (`0-99`), or both (`0-9,20`);
    in the order given, each seed once. ValueError (one line naming the fix) otherwise."""
    seeds: list[int] = []
    for part in (piece.strip() for piece in text.split(",")):
        if not part:
            continue
        first, dash, last = part.partition("-")
        try:
            low = int(first)
            high = int(last) if dash else low
        except ValueError:
            raise ValueError(
                f"--seeds {text!r}: {part!r} is not a seed or a range; give a comma list (0,1,2) or a range A-B (0-99)"
            ) from None
        if high < low:
            raise ValueError(
                f"--seeds {text!r}: the range {part} is empty; write the smaller seed first ({high}-{low})"
            )
        if low < 0 or high > MAX_SEED:
            raise ValueError(f"--seeds {text!r}: seeds go from 0 to {MAX_SEED}")
        if high - low + 1 + len(seeds) > MAX_SEEDS:
            raise ValueError(f"--seeds {text!r}: more than {MAX_SEEDS} seeds; give a shorter range")
        seeds += [seed for seed in range(low, high + 1) if seed not in seeds]
    if not seeds:
        raise ValueError(f"--seeds {text!r}: no seed given; give a comma list (0,1,2) or a range A-B (0-99)")
    return seeds


def seeds_argument(text: str) -> list[int]:
    """argparse `type=` for --seeds: parse_seeds, its error as argparse's one line (exit 2)."""
    try:
        return parse_seeds(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix(f"--seeds {text!r}: ")) from None


def read_token(args: argparse.Namespace, flag: str = "--token") -> str | None:
    """The secret from --token-file, else --token (with a warning: a command line is readable by
    every user of the machine), else the EDGEFT_TOKEN environment variable; None if none."""
    from orchestrator.credentials import read_secret

    if getattr(args, "token_file", None):
        try:
            return read_secret(args.token_file, "--token-file")
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
    if getattr(args, "token", None):
        logging.warning("%s puts a secret on the command line, where every user can read it: use --token-file", flag)
        return args.token
    return os.environ.get(TOKEN_ENV) or None


def resolve_paths(cfg, fields: tuple[str, ...] = PATH_FIELDS) -> None:
    """Make the config's file paths absolute against the user's working directory, before any
    process starts: the runners' processes run from the repository root, where a relative
    path would name another file (or none). A dataset name (telemetry, ...) is not a path."""
    for dotted in fields:
        *parents, name = dotted.split(".")
        part = cfg
        for attr in parents:
            part = getattr(part, attr, None)
        value = getattr(part, name, None) if part is not None else None
        if not isinstance(value, str) or not value:
            continue
        if name == "dataset" and not (value.endswith((".txt", ".jsonl")) or os.sep in value):
            continue
        setattr(part, name, str(Path(value).expanduser().resolve()))


def guard_folder(out_dir: str | Path, resume: bool, overwrite: bool) -> None:
    """Refuse a run folder that holds a run unless --resume or --overwrite says what to do."""
    from orchestrator.results import guard_run_folder

    guard_run_folder(out_dir, resume=resume, overwrite=overwrite)


def check_model(cfg) -> None:
    """A user's model folder is checked before anything starts (it loads with a tokenizer and
    the LoRA targets fit it), so that a mismatch is one line, not a run that aborts later."""
    from edgeft.model_zoo import PACKAGED, materialize
    from edgeft.modeling import check_model_folder

    try:
        if cfg.model.base_model_path:
            check_model_folder(cfg.model.base_model_path, cfg.model.lora)
        elif cfg.model.name in PACKAGED:
            check_model_folder(str(materialize(cfg.model.name, cfg.model.cache_dir)), cfg.model.lora)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def orchestrator_config(args: argparse.Namespace, absolute: bool = False):
    """The OrchestratorConfig a command's --config file and flags describe (flags win), its
    token read from where the flags say, its paths absolute when `absolute`, its model checked."""
    from orchestrator.config import OrchestratorConfig

    data = read_file(args.config) if args.config else {}
    overrides = {
        key: value for key, value in vars(args).items() if "." in key or key in TOP_LEVEL_FIELDS
    }  # flags whose dest names a config field
    token = read_token(args) if hasattr(args, "token_file") else None
    if token:
        overrides["token"] = token
    cfg = build(OrchestratorConfig, data, overrides)
    if absolute:
        resolve_paths(cfg)
    check_model(cfg)
    return cfg
