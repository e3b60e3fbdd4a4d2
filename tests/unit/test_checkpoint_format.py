"""The checkpoint holds tensors and JSON, never pickle; what it cannot read it refuses in one line."""

import math

import numpy as np
import pytest
import torch

from orchestrator import checkpoint
from orchestrator.aggregation import ServerOptimizer
from orchestrator.policies import make_policy
from orchestrator.selection_context import LastSeen


def _state():
    opt = ServerOptimizer({"a": torch.randn(3, 2), "b": torch.randn(2)}, "adam", 0.01)
    opt.step({"a": torch.ones(3, 2), "b": torch.ones(2)})
    policy = make_policy("ne_plus", 12, 10)
    policy.streak = {"node-03": 2}
    rng = np.random.default_rng(5)
    rng.random(7)
    return (
        {
            "fingerprint": "f",
            "adapter": opt.state(),
            "optimizer": opt.state_dict(),
            "policy": policy,
            "rng": rng.bit_generator.state,
            "history": {"node-01": LastSeen(train_time_s=1.5)},
            "bytes": (10, 20),
            "nodes": {"node-01": {"status": "active", "epochs_trained": 3, "fail_reason": None}},
            "epoch": 2,
            "version": 3,
            "val_loss": 4.5,
            "partition_of": {"node-01": 0},
            "total_nodes": 1,
            "coverage": [1.0],
            "bubbles": [0.0],
            "readmissions": 0,
            "elapsed_s": 12.5,
        },
        opt,
        rng,
    )


def test_round_trip_without_pickle(tmp_path):
    state, opt, rng = _state()
    checkpoint.save(tmp_path, state)
    assert not (tmp_path / "checkpoint.pt").exists() and (tmp_path / checkpoint.FILE).exists()
    assert b"\x80\x04" not in (tmp_path / checkpoint.FILE).read_bytes()[:8]  # not a pickle stream
    back = checkpoint.load(tmp_path, "f")
    assert all(torch.equal(back["adapter"][k], v) for k, v in state["adapter"].items())
    again = ServerOptimizer(back["adapter"], "adam", 0.01)
    again.load(back["adapter"], back["optimizer"])
    upd = {"a": torch.full((3, 2), 0.5), "b": torch.full((2,), 0.5)}
    assert all(
        torch.equal(x, y) for x, y in zip(opt.step(upd).values(), again.step(upd).values())
    )  # Adam moments came back
    fresh = make_policy("ne_plus", 12, 10)
    checkpoint.restore_vars(fresh, back["policy"])
    assert fresh.streak == {"node-03": 2} and fresh.ne.per_epoch == state["policy"].ne.per_epoch
    r2 = np.random.default_rng(0)
    r2.bit_generator.state = back["rng"]
    assert r2.random() == rng.random()
    assert LastSeen(**back["history"]["node-01"]).train_time_s == 1.5 and math.isnan(
        back["history"]["node-01"]["round_time_s"]
    )
    assert back["bytes"] == (10, 20)


@pytest.mark.parametrize(
    "damage,fragment",
    [
        (lambda p: p.write_bytes(p.read_bytes()[: len(p.read_bytes()) // 2]), "corrupt"),
        (lambda p: p.write_bytes(b"\x80\x04garbage"), "corrupt"),
    ],
)
def test_damaged_checkpoints_are_refused(tmp_path, damage, fragment):
    state, _, _ = _state()
    checkpoint.save(tmp_path, state)
    damage(tmp_path / checkpoint.FILE)
    with pytest.raises(ValueError, match=fragment) as err:
        checkpoint.load(tmp_path, "f")
    assert "without --resume" in str(err.value) and "\n" not in str(err.value)


def test_foreign_and_old_pickle_checkpoints_are_refused(tmp_path):
    state, _, _ = _state()
    checkpoint.save(tmp_path, state)
    with pytest.raises(ValueError, match="different settings"):
        checkpoint.load(tmp_path, "other")
    (tmp_path / checkpoint.FILE).unlink()
    torch.save({"x": 1}, tmp_path / "checkpoint.pt")
    with pytest.raises(ValueError, match="old pickle checkpoint"):
        checkpoint.load(tmp_path, "f")


def test_a_checkpoint_written_before_model_name_and_distribution_existed_still_resumes():
    from orchestrator.checkpoint import fingerprint
    from orchestrator.config import OrchestratorConfig

    now = OrchestratorConfig().model_dump(mode="json")
    before = {**now, "model": {k: v for k, v in now["model"].items() if k not in ("name", "distribution")}}
    assert fingerprint(now) == fingerprint(before)
    smol = OrchestratorConfig.model_validate({"model": {"name": "smollm2-135m"}}).model_dump(mode="json")
    assert fingerprint(smol) != fingerprint(now)


@pytest.mark.parametrize(
    "damage,fragment",
    [
        (lambda st: st.pop("nodes"), "no 'nodes'"),
        (lambda st: st.pop("rng"), "no 'rng'"),
        (lambda st: st["nodes"]["node-01"].pop("status"), "node 'node-01' lacks"),
        (
            lambda st: st["nodes"].update({"node-02": {"status": "zombie", "epochs_trained": 0, "fail_reason": None}}),
            "unknown status",
        ),
        (lambda st: st.update({"epoch": "two"}), "'epoch' is not a count"),
    ],
)
def test_a_checkpoint_of_the_right_format_and_fingerprint_but_incomplete_is_refused_at_load(tmp_path, damage, fragment):
    """Issue 26: a checkpoint without its `nodes` key passed load and raised KeyError after enrolment."""
    state, _, _ = _state()
    damage(state)
    checkpoint.save(tmp_path, state)
    with pytest.raises(ValueError, match="incomplete") as err:
        checkpoint.load(tmp_path, "f")
    msg = str(err.value)
    assert fragment in msg and "without --resume" in msg and "\n" not in msg
    assert checkpoint.load(tmp_path, None)["fingerprint"] == "f"  # still readable to look at (experiments/generate.py)


def test_resume_keys_are_what_save_checkpoint_writes():
    """checkpoint.RESUME_KEYS (what load requires) cannot drift from resume.save_checkpoint (what is written)."""
    import ast
    import inspect

    from orchestrator import resume
    from orchestrator.registry import NodeStatus

    tree = ast.parse(inspect.getsource(resume.save_checkpoint))
    call = next(n for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, "attr", "") == "save")
    written = [k.value for k in call.args[1].keys]
    assert written == [*checkpoint.RESUME_KEYS, *checkpoint.OPTIONAL_RESUME_KEYS]
    nodes = next(n for n in ast.walk(tree) if isinstance(n, ast.DictComp))
    assert {k.value for k in nodes.value.keys} == checkpoint.NODE_KEYS | checkpoint.OPTIONAL_NODE_KEYS
    assert set(checkpoint.NODE_STATUSES) == {s.value for s in NodeStatus}
