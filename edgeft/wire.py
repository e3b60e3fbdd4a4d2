"""The wire format both sides of the orchestrator <-> edge-client link speak.

JSON messages are pydantic models (validated on arrival); tensors travel as
safetensors bytes with a SHA-256 digest so corruption or truncation is caught
before anything is aggregated.
"""

from __future__ import annotations

import hashlib
import json
import math
from enum import Enum
from typing import Any, Literal

import torch
from pydantic import BaseModel, ConfigDict, Field
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

API_PREFIX = "/v1"
DIGEST_HEADER = "X-Content-SHA256"
META_HEADER = "X-Edgeft-Meta"


class WireError(ValueError):
    """A payload that cannot be accepted; the message names the problem."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class EnrollRequest(_Strict):
    node_id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.\-]+$")
    compute_power: float = Field(gt=0, le=1e6)
    device: str = Field(default="cpu", max_length=32)
    ip: str | None = Field(default=None, max_length=64)


class EnrollResponse(_Strict):
    node_id: str
    node_token: str
    heartbeat_s: float


class TaskKind(str, Enum):
    SETUP = "setup"
    TRAIN = "train"
    SYNC = "sync"
    STOP = "stop"


class Task(_Strict):
    kind: TaskKind
    epoch: int = -1
    version: int = 0
    local_steps: int = 1
    local_lr: float = 0.0
    batch_size: int = 8
    seed: int = 0
    pad_down: int = Field(default=0, ge=0)  # "paper volumes": extra bytes to download with this task
    pad_up: int = Field(default=0, ge=0)  # ... and to upload with its result
    # Emulation only (dynamic scenarios): the compute power the node's emulation uses for this task.
    emulated_compute: float | None = Field(default=None, gt=0)
    # The run's time model (edgeft/timemodel.py): time dilation k and GFLOP/s per unit of compute power.
    dilation: float = Field(default=1.0, ge=1.0, le=1000.0)
    gflops_per_power: float = Field(default=0.25, gt=0)


class ResultMeta(_Strict):
    """What a node reports alongside its gradient tensors."""

    node_id: str
    epoch: int = Field(ge=0)
    version: int = Field(ge=0)
    train_time_s: float = Field(ge=0, le=1e7)
    compute_wall_s: float = Field(ge=0, le=1e7)
    download_s: float = Field(ge=0, le=1e7)
    loss: float
    samples: int = Field(ge=1)
    tokens: int = Field(ge=1)
    work_gflop: float = Field(default=0.0, ge=0, le=1e12)  # the time model's W of this node-epoch


class Ack(_Strict):
    """A node confirms it holds adapter `version` with the given digest."""

    node_id: str
    kind: TaskKind
    version: int = Field(ge=0)
    digest: str = Field(min_length=64, max_length=64)
    download_s: float = Field(default=0.0, ge=0)


class BaseInfo(_Strict):
    """How a node gets this run's base model (GET /v1/artifacts/base-info)."""

    distribution: Literal["transfer", "preinstalled"]
    model: str | None = Field(
        default=None, description="a packaged model's name (edgeft.model_zoo), if the base is one"
    )
    digest: str = Field(min_length=64, max_length=64, description="state_digest of the base weights a node must hold")
    nbytes: int = Field(ge=0, description="size of the base under transfer")


def tensors_to_bytes(tensors: dict[str, torch.Tensor], metadata: dict[str, str] | None = None) -> bytes:
    """Serialise tensors deterministically (sorted names, contiguous CPU copies)."""
    ordered = {k: tensors[k].detach().to("cpu").contiguous().clone() for k in sorted(tensors)}
    return st_save(ordered, metadata=metadata)


def bytes_to_tensors(data: bytes) -> dict[str, torch.Tensor]:
    """Parse safetensors bytes; raise WireError on anything malformed or truncated."""
    try:
        return st_load(data)
    except Exception as exc:  # safetensors raises several exception types
        raise WireError(f"body is not a valid safetensors payload ({exc})") from None


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def state_digest(tensors: dict[str, torch.Tensor]) -> str:
    """Digest of a parameter set that is equal on both sides iff the values are bitwise equal."""
    h = hashlib.sha256()
    for name in sorted(tensors):
        t = tensors[name].detach().to("cpu").contiguous()
        h.update(name.encode())
        h.update(str(t.dtype).encode())
        h.update(json.dumps(list(t.shape)).encode())
        h.update(t.numpy().tobytes() if t.dtype != torch.bfloat16 else t.view(torch.int16).numpy().tobytes())
    return h.hexdigest()


def check_tensors(received: dict[str, torch.Tensor], expected: dict[str, torch.Tensor]) -> None:
    """Reject an upload whose names, shapes, dtypes or values do not fit the adapter."""
    missing = sorted(set(expected) - set(received))
    extra = sorted(set(received) - set(expected))
    if missing or extra:
        raise WireError(f"tensor names do not match the adapter: missing={missing[:3]} unexpected={extra[:3]}")
    for name, ref in expected.items():
        got = received[name]
        if tuple(got.shape) != tuple(ref.shape):
            raise WireError(f"tensor '{name}' has shape {tuple(got.shape)}, expected {tuple(ref.shape)}")
        if got.dtype != ref.dtype:
            raise WireError(f"tensor '{name}' has dtype {got.dtype}, expected {ref.dtype}")
        if not bool(torch.isfinite(got).all()):
            raise WireError(f"tensor '{name}' contains NaN or Inf")


def decode_meta(raw: str | None) -> dict[str, Any]:
    if not raw:
        raise WireError(f"missing {META_HEADER} header")
    try:
        meta = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise WireError(f"{META_HEADER} is not JSON ({exc.msg})") from None
    if not isinstance(meta, dict):
        raise WireError(f"{META_HEADER} must be a JSON object")
    for key, value in meta.items():
        if isinstance(value, float) and not math.isfinite(value):
            raise WireError(f"{META_HEADER}.{key} is not finite")
    return meta


def read_metadata(data: bytes) -> dict[str, str]:
    """The `__metadata__` map of a safetensors payload (header: u64 length + JSON)."""
    if len(data) < 8:
        raise WireError("safetensors payload shorter than its header")
    n = int.from_bytes(data[:8], "little")
    try:
        header = json.loads(data[8 : 8 + n])
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise WireError("safetensors header is not JSON") from None
    return dict(header.get("__metadata__") or {})
