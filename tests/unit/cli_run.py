"""`edgeft ...` in-process for unit tests: the exit code and the lines it wrote to stderr."""

from __future__ import annotations

from experiments.cli import main


def run_cli(argv: list[str], capsys) -> tuple[int, list[str]]:
    """Run the CLI with `argv`; argparse's own exits count as exit codes."""
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse
        code = exc.code
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    return code, err
