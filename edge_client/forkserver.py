"""Many edge clients from one pre-loaded parent (Linux, root).

A client process is mostly its imports (torch + transformers + peft: ~270 MiB
of private memory each). The parent imports them once, then forks one child
per node; each child joins its node's network namespace (setns on
/proc/<pid>/ns/net, e.g. a Mininet host's shell) and runs the ordinary
EdgeAgent. Pages of the parent stay shared copy-on-write, so a hundred clients
fit where a hundred separate processes do not.

    edgeft edge-pool --spec clients.json
    clients.json: [{"netns_pid": 1234, "log": "logs/node-01.log", "config": {EdgeConfig fields}}, ...]
    (netns_pid null: the child stays in the parent's namespace, as `edgeft local` uses it)
"""

from __future__ import annotations

import ctypes
import gc
import json
import logging
import os
import signal
import sys
from pathlib import Path

CLONE_NEWNET = 0x40000000


def join_netns(pid: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(f"/proc/{pid}/ns/net", os.O_RDONLY)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"setns into the network namespace of pid {pid}: {os.strerror(err)}")
    finally:
        os.close(fd)


def _preload() -> None:
    import torch  # noqa: F401
    import transformers  # noqa: F401
    from peft import LoraConfig, get_peft_model  # noqa: F401
    from transformers import AutoConfig, AutoModelForCausalLM, LlamaForCausalLM  # noqa: F401

    from edge_client.agent import EdgeAgent  # noqa: F401


def _child(item: dict) -> int:
    log_path = Path(item["log"])
    log_path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True, stream=sys.stderr
    )
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    from edge_client.agent import EdgeAgent
    from edge_client.config import EdgeConfig

    if item["netns_pid"] is not None:  # None: stay in this namespace (loopback runs, no root needed)
        join_netns(int(item["netns_pid"]))
    try:
        EdgeAgent(EdgeConfig.model_validate(item["config"])).run()
        return 0
    except Exception:
        logging.exception("edge client failed")
        return 1


def pids_path(spec_path: str | Path) -> Path:
    """Where the pool writes which process is which node's client ({node_id: pid}): a scenario's
    crash (experiments/runners/crashes.py) kills one client of a pool."""
    return Path(f"{spec_path}.pids")


def run_pool(spec: list[dict], pids_file: str | Path | None = None) -> int:
    """Fork one client per spec entry; wait for all; return non-zero if any failed. `pids_file`:
    written ({node_id: pid}, atomically) once every child is forked."""
    _preload()
    import torch

    from edge_client.base_copy import preload

    torch.set_num_threads(1)  # OpenMP's pool does not survive fork: the parent stays single-threaded
    for path in sorted({item["config"]["model_path"] for item in spec if item["config"].get("model_path")}):
        preload(path)  # a preinstalled base: loaded once here, its weights shared by every child
    gc.freeze()  # keep the preloaded objects' pages shared: the collector will not touch them
    children: dict[int, str] = {}
    for item in spec:
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                code = _child(item)
            finally:
                os._exit(code)
        children[pid] = item["config"]["node_id"]
    if pids_file is not None:
        tmp = Path(f"{pids_file}.tmp")
        tmp.write_text(json.dumps({node: pid for pid, node in children.items()}))
        tmp.replace(pids_file)

    def _stop(signum, _frame) -> None:
        for child in list(children):
            try:
                os.kill(child, signal.SIGTERM)
            except ProcessLookupError:
                pass

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGHUP, _stop)  # forked children have no parent-death signal: a hang-up must reach them
    failed = 0
    while children:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            break
        node = children.pop(pid, "?")
        if os.waitstatus_to_exitcode(status) != 0:
            failed += 1
            logging.warning("client %s exited with %s", node, os.waitstatus_to_exitcode(status))
    return 1 if failed else 0


def load_spec(path: str) -> list[dict]:
    data = json.loads(Path(path).read_text())
    if not isinstance(data, list) or not all(
        isinstance(i, dict) and {"netns_pid", "log", "config"} <= set(i) for i in data
    ):
        raise ValueError(f"{path}: expected a list of {{netns_pid, log, config}} objects")
    return data
