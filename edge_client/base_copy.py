"""A node's own copy of the base model (distribution `preinstalled`).

The node loads the base from its local folder and proves it is the orchestrator's by
the digest of the weights, so a copy made anywhere (converted on the node, copied
from elsewhere) verifies, and a stale or different one is refused before training.
In the fork pool the parent loads each folder once before forking (`preload`); every
child then takes that model and shares its weight pages copy-on-write.
"""

from __future__ import annotations

import logging

import torch

from edgeft.model_zoo import materialize
from edgeft.modeling import base_state, load_pretrained
from edgeft.wire import BaseInfo, state_digest

log = logging.getLogger(__name__)

_preloaded: dict[str, tuple[torch.nn.Module, str]] = {}


def preload(path: str) -> None:
    """Load the base at `path` (and its digest) in this process, for children forked later."""
    if path not in _preloaded:
        model = load_pretrained(path)
        _preloaded[path] = (model, state_digest(base_state(model)))
        log.info("preloaded the base model at %s for the clients", path)


def release_free_memory() -> None:
    """Hand the C heap's free pages back to the kernel (glibc keeps what a training step freed):
    a client's resident memory is then its live tensors, and the shared base stays shared."""
    import ctypes

    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: nothing to trim
        pass


def local_folder(model_path: str | None, info: BaseInfo, cache_dir: str | None = None) -> str:
    """The folder holding this node's copy: its --model-path, else the packaged model's cache."""
    if model_path:
        return model_path
    if info.model:
        return str(materialize(info.model, cache_dir))
    raise ValueError("this run's base model is preinstalled on the nodes: give this node its copy with --model-path")


def take(path: str) -> tuple[torch.nn.Module, str]:
    """The base at `path` with its digest: the preloaded one (once: LoRA wraps it in place), else loaded now."""
    if path in _preloaded:
        log.info("base model: the copy the pool's parent loaded (shared copy-on-write)")
        return _preloaded.pop(path)
    log.info("base model: loading this node's copy from %s", path)
    model = load_pretrained(path)
    return model, state_digest(base_state(model))


def verified_base(model_path: str | None, info: BaseInfo, cache_dir: str | None = None) -> torch.nn.Module:
    """This node's base model, checked against the orchestrator's digest."""
    folder = local_folder(model_path, info, cache_dir)
    model, digest = take(folder)
    if digest != info.digest:
        raise ValueError(
            f"this node's base model at {folder} is not the orchestrator's (digest {digest[:12]} != "
            f"{info.digest[:12]}): give the same model with --model-path, or run with model.distribution: transfer"
        )
    return model
