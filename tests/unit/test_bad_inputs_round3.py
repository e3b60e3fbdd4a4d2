"""The bad inputs of issue 26 (item 7) that reached a traceback or failed late: each is refused in one
`edgeft: error:` line naming the field and the fix, exit 2, before anything starts, nothing written.
Checked in-process through experiments.cli.main, as tests/unit/test_bad_inputs.py does."""

import json
import tracemalloc

import numpy as np
import pytest

from edgeft.config_files import ConfigError, read_file
from orchestrator import checkpoint
from orchestrator.config import OrchestratorConfig
from tests.unit.cli_run import run_cli
from orchestrator.policies import Candidate, SelectionContext, Truth, make_policy

LAUGHS = "\n".join(
    ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    + [f"{c}: &{c} [{','.join([f'*{p}'] * 9)}]" for p, c in zip("abcdefgh", "bcdefghi")]
)  # 9**9 = 387 M strings from 342 bytes, were it expanded


def _run(argv, capsys) -> tuple[int, list[str]]:
    return run_cli(argv, capsys)


def _refused(argv, capsys, *fragments) -> str:
    if argv[0] == "orchestrator" and "--port" not in argv:
        argv = [*argv, "--port", "0"]  # were it to start after all, it must not take a port others use
    rc, err = _run(argv, capsys)
    lines = [line for line in err if line.startswith("edgeft: error: ")]
    assert rc == 2 and len(lines) == 1 and len(err) == 1, err
    assert all(f in lines[0] for f in fragments), lines[0]
    return lines[0]


def _truth(tmp_path, power):
    nodes = [
        {"node_id": f"node-{i:02d}", "compute_power": power if i == 1 else 30.0, "bandwidth_mbps": 10.0}
        | {"delay_ms": 5.0, "loss_pct": 0.0}
        for i in range(1, 13)
    ]
    (tmp_path / "truth.json").write_text(json.dumps({"nodes": nodes}))
    return str(tmp_path / "truth.json")


@pytest.mark.parametrize("command", ["orchestrator", "local"])
def test_a_section_given_as_a_number_beside_its_flag(tmp_path, capsys, command):
    """{"training": 5} in the file and --epochs on the line: TypeError in set_dotted before."""
    (tmp_path / "c.json").write_text(json.dumps({"training": 5}))
    out = tmp_path / "out"
    argv = [command, "--config", str(tmp_path / "c.json"), "--epochs", "3", "--out", str(out)]
    _refused(argv, capsys, "'training'", "must be a mapping", "training: {epochs: ...}")
    assert not out.exists()


@pytest.mark.parametrize("power", [0, -1, "NaN", "Infinity"])
def test_oracle_score_with_a_powerless_node_in_the_truth_file(tmp_path, capsys, power):
    """ZeroDivisionError after epoch 0 before (no summary written): now refused with the config."""
    (tmp_path / "c.json").write_text(
        json.dumps({"policy": "oracle_score", "policy_options": {"truth_file": _truth(tmp_path, power)}})
    )
    out = tmp_path / "out"
    _refused(
        ["orchestrator", "--config", str(tmp_path / "c.json"), "--out", str(out)],
        capsys,
        "policy_options.truth_file",
        "node-01 has compute_power",
    )
    assert not out.exists()


def test_the_oracles_survive_a_powerless_node_reaching_them_anyway():
    """Defence behind the config check (a truth built in code): the node is the worst, no NaN, no crash."""
    truth = {f"n{i}": Truth(f"n{i}", 0.0 if i == 0 else 10.0 * i, 10.0, 5.0, 0.0) for i in range(4)}
    cands = [Candidate(n, True, 30.0) for n in truth]
    ctx = SelectionContext(0, 3, 4, cands, np.full(5, 0.2), np.ones(5), np.random.default_rng(0), truth=truth)
    ctx.work_gflop, ctx.gflops_per_power = 7.5, 0.25
    for name in ("oracle_score", "oracle"):
        chosen = make_policy(name, 4, 3).select(ctx)
        assert len(chosen) == 3 and "n0" not in chosen, name


def _checkpoint_without(tmp_path, key):
    """A checkpoint of the right format and of the default config's fingerprint, lacking `key`."""
    cfg = OrchestratorConfig()
    cfg.emulation.dilation = 1.0  # what the CLI sets for a lone orchestrator before it checks the fingerprint
    state = {k: {} for k in checkpoint.RESUME_KEYS}
    state.update(fingerprint=checkpoint.fingerprint(cfg.model_dump(mode="json")), epoch=1, version=2, total_nodes=1)
    state["nodes"] = {"node-01": {"status": "active", "epochs_trained": 2, "fail_reason": None}}
    state.pop(key)
    checkpoint.save(tmp_path, state)


def test_a_checkpoint_without_its_nodes(tmp_path, capsys):
    """KeyError after enrolment before; refused at load now, with the run folder untouched."""
    _checkpoint_without(tmp_path, "nodes")
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    _refused(["orchestrator", "--resume", "--out", str(tmp_path), "--port", "0"], capsys, "no 'nodes'", "--resume")
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


@pytest.mark.parametrize("command", ["orchestrator", "local"])
def test_a_billion_laughs_yaml_is_refused_without_expanding_it(tmp_path, capsys, command):
    """7.6 s and 545 MB before it was refused (x10 per level): now refused at the first alias."""
    (tmp_path / "laughs.yaml").write_text(LAUGHS)
    assert len(LAUGHS) < 400
    tracemalloc.start()
    try:
        _refused([command, "--config", str(tmp_path / "laughs.yaml")], capsys, "laughs.yaml", "aliases")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 20 * 2**20  # nothing was expanded (the expansion needs gigabytes)


def test_yaml_anchors_without_aliases_and_other_malformed_files(tmp_path):
    (tmp_path / "a.yaml").write_text("training: &t {epochs: 3}\n")
    assert read_file(tmp_path / "a.yaml") == {"training": {"epochs": 3}}
    (tmp_path / "deep.json").write_text("[" * 100_000 + "]" * 100_000)
    (tmp_path / "latin.yaml").write_bytes(b"nodes: 4 # caf\xe9\n")
    for name, fragment in (("deep.json", "nested too deeply"), ("latin.yaml", "not UTF-8")):
        with pytest.raises(ConfigError, match=fragment):
            read_file(tmp_path / name)


@pytest.mark.parametrize("seed", [str(2**64), str(2**32), "-1"])
def test_a_seed_numpy_and_torch_cannot_take(tmp_path, capsys, seed):
    """Seed 2**64: rc 1 after about 60 s of enrolment before."""
    out = tmp_path / "out"
    _refused(["orchestrator", "--seed", seed, "--out", str(out)], capsys, "'seed'", seed)
    assert not out.exists()


def test_the_largest_seed_accepted_works_with_numpy_and_torch():
    import torch

    top = OrchestratorConfig(seed=2**32 - 1).seed
    np.random.seed(top)
    np.random.default_rng([top, 7])
    torch.manual_seed(top * 100_003 + 99)  # the per-epoch seed the edge uses (orchestrator/epoch_loop.py)


@pytest.mark.parametrize("command", ["orchestrator", "local"])
def test_a_jsonl_dataset_with_invalid_utf8(tmp_path, capsys, command):
    """rc 1 after about 60 s of enrolment before: now read when the config is checked."""
    (tmp_path / "bad.jsonl").write_bytes(b'{"text": "fine"}\n{"text": "caf\xe9 \xff"}\n')
    out = tmp_path / "out"
    argv = [command, "--dataset", str(tmp_path / "bad.jsonl"), "--out", str(out)]
    _refused(argv, capsys, "data.dataset", "bad.jsonl:2", "UTF-8")
    assert not out.exists()


@pytest.mark.parametrize(
    "line,fragment", [(b"[1, 2]", "'text' field"), (b'{"text": "a"', "'text' field"), (b"[" * 50_000, "'text' field")]
)
def test_other_broken_jsonl_lines_are_named_at_config_time(tmp_path, line, fragment):
    (tmp_path / "d.jsonl").write_bytes(b'{"text": "ok"}\n' + line + b"\n")
    with pytest.raises(ConfigError, match=fragment):
        from edgeft.config_files import build

        build(OrchestratorConfig, {"data": {"dataset": str(tmp_path / "d.jsonl")}}, {})
