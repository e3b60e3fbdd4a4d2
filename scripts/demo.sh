#!/usr/bin/env bash
# README command one: install what is missing, then compare NE with AR
# (12 nodes, paper Setup 2 figures, 10 epochs, built-in model).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
exec .venv/bin/python -m experiments.demo_local "$@"
