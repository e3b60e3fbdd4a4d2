#!/usr/bin/env bash
# README command one: install what is missing, then compare NE with AR
# (12 nodes, paper Setup 2, 10 epochs, built-in model). As root this is the
# full system in Mininet (controller app, shaped links, clients in hosts);
# without root it says why and runs the same comparison on loopback.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
if [ "$(id -u)" = 0 ]; then
  exec .venv/bin/edgeft compare --nodes 12 --setups 2 --policies ne,ar --epochs 10 --seeds 0 --out results/demo "$@"
fi
echo "[demo] not root: Mininet cannot run, so this is the loopback comparison (no network emulation)." >&2
echo "[demo] for the full demo run: sudo bash scripts/demo.sh" >&2
exec .venv/bin/python -m experiments.demo_local --out results/demo-local "$@"
