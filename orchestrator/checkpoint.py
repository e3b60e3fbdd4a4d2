"""Checkpoints of a run after every completed epoch, for `edgeft orchestrator --resume`.

One file, `<out_dir>/checkpoint.pt`, replaced atomically: the global adapter and
the server optimizer's state, the version, every node's status and history,
the policy object with its own state (deadline, tier credits), the selection
RNG, the fairness tallies, traffic counters and the wall time spent so far. It
is a pickle (torch.save): load only checkpoints your own runs wrote. A config
fingerprint refuses a resume under different settings, which would silently
mix two experiments.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import torch

FILE = "checkpoint.pt"
# Settings that may differ between the run and its resume without changing results.
VOLATILE = ("host", "port", "token", "out_dir", "timeouts", "tls", "device")


def fingerprint(cfg_json: dict[str, Any]) -> str:
    stable = {k: v for k, v in cfg_json.items() if k not in VOLATILE}
    return hashlib.sha256(json.dumps(stable, sort_keys=True).encode()).hexdigest()[:16]


def save(out_dir: Path, state: dict[str, Any]) -> None:
    tmp = out_dir / (FILE + ".tmp")
    torch.save(state, tmp)
    tmp.replace(out_dir / FILE)


def load(out_dir: Path, expected_fingerprint: str) -> dict[str, Any]:
    """The checkpoint of this run folder; ValueError, naming the fix, if there is none or it is foreign."""
    path = out_dir / FILE
    if not path.is_file():
        raise ValueError(f"--resume: no {FILE} in {out_dir}: the run finished no epoch yet; start it again without --resume")
    state = torch.load(path, weights_only=False)
    if state.get("fingerprint") != expected_fingerprint:
        raise ValueError(f"--resume: {path} was written under different settings; resume with the run's own config "
                         "(only host, port, token, timeouts, tls and device may change)")
    return state
