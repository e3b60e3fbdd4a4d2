#!/usr/bin/env bash
# The whole test suite: installs what is missing, lints (ruff.toml: line length 120), checks the layering
# (lint-imports, .importlinter), then the tests.
# Run as root (`bash scripts/test.sh`; from a user account `sudo bash scripts/test.sh`); nothing here calls sudo.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh --smollm2 --dev --flower  # the tests cover the optional SmolLM2 model and Flower path too
.venv/bin/ruff check --quiet . && .venv/bin/ruff format --check --quiet . || {
  echo "[test] lint failed: see above (fix, or run .venv/bin/ruff format on the files it names)" >&2; exit 1; }
# the layering (.importlinter: launch layer on top, components, the shared layer edgeft/ at the bottom, no loops)
.venv/bin/lint-imports --no-cache || {
  echo "[test] layering check failed: an import above breaks .importlinter (docs/architecture.md, Layers)" >&2; exit 1; }
export PYTHONUNBUFFERED=1
# --durations: the slowest tests are named at the end of every run, so a CI that nears its 60 min says where
exec .venv/bin/python -m pytest tests -q -p no:cacheprovider --durations=15 "$@"
