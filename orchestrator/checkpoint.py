"""Checkpoints of a run after every completed epoch, for `edgeft orchestrator --resume`.

One file, `<out_dir>/checkpoint.safetensors`, replaced atomically (written
aside, then renamed over the old one): the tensors (global adapter, server
optimizer state) as safetensors, everything else (version, every node's status
and history, the policy's own state, the selection RNG, fairness tallies,
traffic counters, wall time so far) as JSON in its metadata. Nothing in it can
run code when loaded: the decoder builds only dicts, lists, tuples, numbers,
strings and tensors. A config fingerprint refuses a resume under different
settings, which would silently mix two experiments.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

FILE = "checkpoint.safetensors"
OLD_PICKLE = "checkpoint.pt"  # before edgeft 0.x: a pickle, never loaded
FORMAT = "edgeft-checkpoint-1"
# What orchestrator/resume.py's save_checkpoint writes and a resume reads back.
RESUME_KEYS = (
    "fingerprint",
    "epoch",
    "version",
    "val_loss",
    "adapter",
    "optimizer",
    "nodes",
    "partition_of",
    "total_nodes",
    "policy",
    "rng",
    "history",
    "coverage",
    "bubbles",
    "readmissions",
    "bytes",
    "elapsed_s",
)
# Written since the update guard; a checkpoint from before it lacks them and resumes with none.
OPTIONAL_RESUME_KEYS = ("refused", "rolled_back", "not_set_up", "accepted_norms")  # not_set_up: PACE rule 4
NODE_KEYS = frozenset({"status", "epochs_trained", "fail_reason"})
OPTIONAL_NODE_KEYS = frozenset({"may_return"})  # since the identity checks; older checkpoints: False
NODE_STATUSES = ("enrolled", "active", "eliminated", "failed")  # orchestrator/registry.py NodeStatus values
# Settings that may differ between the run and its resume without changing results.
VOLATILE = ("host", "port", "token", "out_dir", "timeouts", "tls", "device")


def fingerprint(cfg_json: dict[str, Any]) -> str:
    stable = {k: v for k, v in cfg_json.items() if k not in VOLATILE}
    model = dict(stable.get("model", {}))
    # settings added later, at the values runs had before they existed: old checkpoints still resume
    for key, before in (("name", "tiny"), ("distribution", "transfer")):
        if model.get(key) == before:
            model.pop(key)
    stable["model"] = model
    return hashlib.sha256(json.dumps(stable, sort_keys=True).encode()).hexdigest()[:16]


def encode(obj: Any, tensors: dict[str, torch.Tensor]) -> Any:
    """A JSON-able tree for `obj`; its tensors go to `tensors` and are referenced by key.
    Objects (a policy with its state) are stored as their attributes."""
    if isinstance(obj, torch.Tensor):
        key = f"t{len(tensors)}"
        tensors[key] = obj.detach().cpu().contiguous()
        return {"__tensor__": key}
    if isinstance(obj, dict):
        if all(isinstance(k, str) for k in obj):
            return {"__dict__": {k: encode(v, tensors) for k, v in obj.items()}}
        return {"__items__": [[encode(k, tensors), encode(v, tensors)] for k, v in obj.items()]}
    if isinstance(obj, (set, frozenset)):
        return {"__set__": [encode(v, tensors) for v in sorted(obj)]}
    if isinstance(obj, (list, tuple)):
        return {"__tuple__" if isinstance(obj, tuple) else "__list__": [encode(v, tensors) for v in obj]}
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    if hasattr(obj, "item") and callable(obj.item):  # numpy scalars
        return obj.item()
    if hasattr(obj, "__dict__"):
        return {"__vars__": {k: encode(v, tensors) for k, v in vars(obj).items()}}
    raise TypeError(f"checkpoint cannot store a {type(obj).__name__}")


def decode(tree: Any, tensors: dict[str, torch.Tensor]) -> Any:
    """Inverse of encode, for data only: an object comes back as the dict of its attributes."""
    if isinstance(tree, dict):
        ((tag, val),) = tree.items()
        if tag == "__tensor__":
            return tensors[val]
        if tag in ("__dict__", "__vars__"):
            return {k: decode(v, tensors) for k, v in val.items()}
        if tag == "__items__":
            return {decode(k, tensors): decode(v, tensors) for k, v in val}
        items = [decode(v, tensors) for v in val]
        if tag == "__tuple__":
            return tuple(items)
        return set(items) if tag == "__set__" else items
    return tree


def restore_vars(obj: Any, saved: dict[str, Any]) -> None:
    """Put the attributes `encode` stored back on a freshly built object of the same kind."""
    for name, value in saved.items():
        current = getattr(obj, name, None)
        if isinstance(value, dict) and hasattr(current, "__dict__") and not isinstance(current, (dict, torch.Tensor)):
            restore_vars(current, value)
        else:
            setattr(obj, name, value)


def save(out_dir: Path, state: dict[str, Any]) -> None:
    """Write the checkpoint aside, fsync it, rename it over the old one (which stays whole on any
    failure); RunFolderError naming the file if the disk refuses."""
    from orchestrator.results import RunFolderError, _fsync_dir

    tensors: dict[str, torch.Tensor] = {}
    tree = encode(state, tensors)
    tmp = out_dir / (FILE + ".tmp")
    try:
        save_file(tensors, str(tmp), metadata={"format": FORMAT, "state": json.dumps(tree)})
        with tmp.open("rb+") as fh:
            os.fsync(fh.fileno())
        tmp.replace(out_dir / FILE)
        _fsync_dir(out_dir)
    except (OSError, SafetensorError) as exc:
        tmp.unlink(missing_ok=True)
        cause = exc if isinstance(exc, OSError) else OSError(errno.EIO, str(exc)[:200])
        raise RunFolderError(out_dir / FILE, cause) from exc


def load(out_dir: Path, expected_fingerprint: str | None) -> dict[str, Any]:
    """The checkpoint of this run folder; ValueError, naming the fix, if there is none or
    it is corrupt, foreign or of the old (pickle) kind. `expected_fingerprint` None: read
    it whatever settings wrote it (to look at a finished run, not to resume it)."""
    path = out_dir / FILE
    if not path.is_file():
        if (out_dir / OLD_PICKLE).is_file():
            raise ValueError(
                f"--resume: {out_dir / OLD_PICKLE} is an old pickle checkpoint, which edgeft no longer loads "
                "(a pickle can run code); start the run again without --resume"
            )
        raise ValueError(
            f"--resume: no {FILE} in {out_dir}: the run finished no epoch yet; start it again without --resume"
        )
    try:
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
        if meta.get("format") != FORMAT:
            raise ValueError("not an edgeft checkpoint")
        state = decode(json.loads(meta["state"]), load_file(str(path)))
    except (SafetensorError, OSError, ValueError, KeyError, TypeError) as exc:
        raise ValueError(
            f"--resume: {path} is corrupt or not an edgeft checkpoint ({str(exc)[:120]}); "
            "start the run again without --resume"
        ) from None
    if expected_fingerprint is not None and state.get("fingerprint") != expected_fingerprint:
        raise ValueError(
            f"--resume: {path} was written under different settings; resume with the run's own config "
            "(only host, port, token, timeouts, tls and device may change)"
        )
    if expected_fingerprint is not None:
        problem = resume_problem(state)
        if problem:
            raise ValueError(
                f"--resume: {path} is incomplete ({problem}): it was damaged or written by another edgeft; "
                "start the run again without --resume"
            )
    return state


def resume_problem(state: dict[str, Any]) -> str:
    """'' if `state` holds everything a resume reads (orchestrator/resume.py), else what is missing or wrong:
    checked before anything starts, so a bad checkpoint is one line, not a KeyError after enrolment."""
    missing = [k for k in RESUME_KEYS if k not in state]
    if missing:
        return f"no {', '.join(repr(k) for k in missing[:4])}"
    for key in ("epoch", "version", "total_nodes"):
        if not isinstance(state[key], int) or isinstance(state[key], bool) or state[key] < 0:
            return f"{key!r} is not a count"
    if not isinstance(state["nodes"], dict) or not state["nodes"]:
        return "'nodes' holds no node"
    for node_id, saved in state["nodes"].items():
        if not isinstance(saved, dict) or not NODE_KEYS <= saved.keys() or saved["status"] not in NODE_STATUSES:
            return f"node {node_id!r} lacks {sorted(NODE_KEYS)} or has an unknown status"
    for key in ("partition_of", "history", "adapter", "optimizer", "rng"):
        if not isinstance(state[key], dict):
            return f"{key!r} is not a mapping"
    return ""
