"""A runner or report started as a script of its own (`python -m experiments.compare`,
`python -m experiments.reports.redraw`) instead of through the `edgeft` command: its flags
parsed with its docstring as the help, logging set up, and a bad input as one line and exit 2,
as `edgeft` does. Beside the runners and the reports, not in either, so that both can use it
without importing each other.
"""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Callable

from edgeft.config_files import ConfigError

EXIT_CONFIG = 2


def run_script(
    doc: str, add_arguments: Callable[[argparse.ArgumentParser], None], argv: list[str] | None, log_format: str
) -> argparse.Namespace:
    """The parsed flags of a runner started as a script of its own (`python -m ...`): its doc as the
    help, its flags, INFO logging in `log_format`."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format=log_format)
    return args


def one_line_errors(prog: str, command: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    """`command(args)`, with a ConfigError as one line `<prog>: error: ...` and exit 2."""
    try:
        return command(args)
    except ConfigError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
