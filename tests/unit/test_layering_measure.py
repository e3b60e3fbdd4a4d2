"""experiments/measure/layering.py on a small made-up tree: each figure it reports for the real
checkout (docs/architecture.md, "Layers") is counted right on code whose answer is known."""

from __future__ import annotations

from pathlib import Path

from experiments.measure.layering import measure

FILES = {
    "edgeft/__init__.py": "",
    "edgeft/shared.py": (
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from orchestrator.loop import Loop\n"  # upward, type checking only
        "def late():\n"
        "    from experiments.cli import main\n"  # upward, deferred
        "    return main\n"
    ),
    "orchestrator/__init__.py": "",
    "orchestrator/loop.py": (
        "from orchestrator.state import State\n"  # loop with state.py
        "import tests.helpers\n"  # product code importing tests
        "def epoch_time(wall, dilation):\n"
        "    return wall / dilation\n"  # a factor use
        "class Loop:\n"
        "    pass\n"
    ),
    "orchestrator/state.py": (
        "def state():\n    from orchestrator.loop import Loop\n    return Loop\nclass State:\n    pass\n"
    ),
    "orchestrator/budget.py": "def top(scores, k):\n    return sorted(scores)[:k] * 2 if k else k * 3\n",  # k: a budget
    "topologies/__init__.py": "",
    "topologies/net.py": (
        "from controller_app.tokens import read\n"  # across components
        "def rate(cfg, mbps):\n"
        "    return mbps / cfg.emulation.k\n"  # a factor use through the attribute
        + "def long():\n"
        + "    x = 1\n" * 70  # a 71-line function
    ),
    "controller_app/__init__.py": "",
    "controller_app/tokens.py": "def read():\n    return ''\n",
    "experiments/__init__.py": "",
    "experiments/cli.py": "from edgeft.shared import late\ndef main():\n    return late\n",
}


def _tree(root: Path) -> Path:
    for name, text in FILES.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def test_every_figure_on_a_tree_whose_answer_is_known(tmp_path):
    report = measure(_tree(tmp_path), with_duplicates=False)
    summary = report.summary
    upward = {(e["importer"], e["target"], e["kind"]) for e in report.upward}
    assert upward == {
        ("edgeft.shared", "orchestrator.loop", "type_checking"),
        ("edgeft.shared", "experiments.cli", "deferred"),
        ("orchestrator.loop", "tests.helpers", "module"),
    }
    assert summary["upward_by_kind"] == {"module": 1, "deferred": 1, "type_checking": 1}
    assert [(e["importer"], e["target"]) for e in report.across] == [("topologies.net", "controller_app.tokens")]
    # orchestrator.loop <-> state (deferred back), and edgeft.shared <-> experiments.cli
    assert report.loops["all"] == [["edgeft.shared", "experiments.cli"], ["orchestrator.loop", "orchestrator.state"]]
    assert report.loops["module_level"] == []
    assert sorted((e["file"], e["line"]) for e in report.factor_uses) == [
        ("orchestrator/loop.py", 4),
        ("topologies/net.py", 3),
    ]
    assert summary["functions_over_60"] == 1 and summary["largest_function"]["lines"] == 71
    assert summary["largest_class"]["name"].endswith("Loop") or summary["largest_class"]["name"].endswith("State")
