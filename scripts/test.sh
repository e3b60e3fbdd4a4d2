#!/usr/bin/env bash
# The whole test suite: installs what is missing, then unit and integration tests.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh --smollm2  # the tests cover the optional SmolLM2 model too
export PYTHONUNBUFFERED=1
exec .venv/bin/python -m pytest tests -q -p no:cacheprovider "$@"
