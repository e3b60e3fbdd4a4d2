#!/usr/bin/env bash
# README command one: install what is missing, then compare NE with AR
# (12 nodes, paper Setup 2, 10 epochs, built-in model). As root this is the
# full system in Mininet (controller app, shaped links, clients in hosts);
# without root it says why and runs the same comparison on loopback.
# Run as root (`bash scripts/demo.sh`; a non-root user: `sudo bash scripts/demo.sh`);
# nothing here calls sudo. Run twice, it keeps the earlier results: the previous
# results/demo is moved aside to results/demo.old-<time> (edgeft's --overwrite), not deleted.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
if [ "$(id -u)" = 0 ]; then
  exec .venv/bin/edgeft compare --nodes 12 --setups 2 --policies ne,ar --epochs 10 --seeds 0 --out results/demo \
    --overwrite "$@"
fi
echo "[demo] not root: Mininet cannot run, so this is the loopback comparison (no network emulation)." >&2
echo "[demo] for the full demo run it as root: bash scripts/demo.sh (from a user account: sudo bash scripts/demo.sh)" >&2
if [ -e results/demo-local ]; then  # demo_local has no --overwrite: the earlier run is kept the same way
  aside="results/demo-local.old-$(date +%Y%m%d-%H%M%S)"
  mv results/demo-local "$aside"
  echo "[demo] the earlier loopback demo is now in $aside" >&2
fi
exec .venv/bin/python -m experiments.demo_local --out results/demo-local "$@"
