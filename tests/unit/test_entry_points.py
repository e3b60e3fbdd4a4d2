"""Every command a user types starts and answers `--help` (issue 27: the entry points moved into
the launch layer, their commands did not): the `edgeft` console script and each subcommand,
`python -m experiments.compare`, every `experiments/bench_*.py`, `python topologies/edge_cloud.py`,
the controller app `osken-manager` loads, and the commands behind scripts/demo.sh and scripts/test.sh.
Real processes, as a user starts them; nothing runs past its help."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
SUBCOMMANDS = (
    "orchestrator",
    "edge",
    "local",
    "flower",
    "flower-worker",
    "controller",
    "compare",
    "edge-pool",
    "provision",
    "report",
    "simulate",
)
BENCHES = sorted(path.name for path in (REPO / "experiments").glob("bench_*.py"))


def _run(command: list[str], timeout: float = 120) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    return subprocess.run(command, capture_output=True, text=True, cwd=REPO, timeout=timeout, env=env)


def test_the_edgeft_console_script_lists_every_subcommand():
    done = _run([str(BIN / "edgeft"), "--help"])
    assert done.returncode == 0, done.stderr
    for name in SUBCOMMANDS:
        assert name in done.stdout


def test_every_edgeft_subcommand_answers_help():
    """One process for all of them (each --help is argparse's SystemExit(0)); the console script
    itself is started for real above."""
    probe = (
        "import contextlib, io, sys\n"
        "from experiments.cli import main\n"
        "bad = []\n"
        f"for name in {SUBCOMMANDS!r}:\n"
        "    out = io.StringIO()\n"
        "    try:\n"
        "        with contextlib.redirect_stdout(out):\n"
        "            main([name, '--help'])\n"
        "        bad.append((name, 'no exit'))\n"
        "    except SystemExit as stop:\n"
        "        if stop.code != 0 or f'edgeft {name}' not in out.getvalue():\n"
        "            bad.append((name, stop.code))\n"
        "print(bad)\n"
        "sys.exit(1 if bad else 0)\n"
    )
    done = _run([sys.executable, "-c", probe])
    assert done.returncode == 0, done.stdout + done.stderr


def test_python_m_edgeft_s_module_and_experiments_compare_answer_help():
    for module in ("experiments.cli", "experiments.compare"):
        done = _run([sys.executable, "-m", module, "--help"])
        assert done.returncode == 0 and "usage:" in done.stdout, (module, done.stderr)


@pytest.mark.parametrize("bench", BENCHES)
def test_every_benchmark_script_answers_help(bench):
    done = _run([sys.executable, f"experiments/{bench}", "--help"])
    assert done.returncode == 0 and "usage:" in done.stdout, done.stderr[-2000:]


def test_the_topology_script_answers_help():
    done = _run([sys.executable, "topologies/edge_cloud.py", "--help"])
    assert done.returncode == 0 and "--nodes" in done.stdout, done.stderr[-2000:]


def test_osken_manager_answers_help_and_loads_the_controller_app_by_its_path():
    manager = BIN / "osken-manager"
    if not manager.exists():
        pytest.skip("os-ken is not installed (scripts/install.sh installs it)")
    done = _run([str(manager), "--help", "controller_app/edge_monitor.py"])
    assert done.returncode == 0 and "usage: osken-manager" in done.stdout, done.stderr[-2000:]
    load = "from os_ken.utils import import_module; import_module('controller_app/edge_monitor.py')"
    done = _run([sys.executable, "-c", load])  # what osken-manager does with the path it is given
    assert done.returncode == 0, done.stderr[-2000:]


def test_the_scripts_parse_and_the_commands_they_run_answer_help():
    for script in ("scripts/demo.sh", "scripts/test.sh", "scripts/install.sh"):
        done = _run(["bash", "-n", script])
        assert done.returncode == 0, (script, done.stderr)
    demo = "--nodes 12 --setups 2 --policies ne,ar --epochs 10 --seeds 0 --out results/demo --overwrite".split()
    done = _run([str(BIN / "edgeft"), "compare", *demo, "--help"])  # demo.sh as root, flags and all
    assert done.returncode == 0, done.stderr
    done = _run([sys.executable, "-m", "experiments.demo_local", "--help"])  # demo.sh without root
    assert done.returncode == 0, done.stderr


def test_simulate_refuses_a_folder_holding_a_run_like_every_other_command(tmp_path):
    (tmp_path / "results.csv").write_text("nodes,policy\n")
    done = _run([str(BIN / "edgeft"), "simulate", "--out", str(tmp_path)])
    errors = [line for line in done.stderr.splitlines() if "error" in line]
    assert done.returncode == 2, done.stderr
    assert len(errors) == 1 and "already holds a run" in errors[0] and "--overwrite" in errors[0], done.stderr
    assert (tmp_path / "results.csv").exists()  # nothing moved without --overwrite
