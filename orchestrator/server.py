"""Run an orchestrator: HTTP API (uvicorn) and the epoch loop on one event loop."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from pathlib import Path
from typing import Any, Coroutine, Iterator

import torch
import uvicorn

from orchestrator import checkpoint, fidelity
from orchestrator.api import create_app
from orchestrator.config import OrchestratorConfig
from orchestrator.coordinator import Coordinator
from orchestrator.credentials import Credentials, new_secret, write_private
from orchestrator.epoch_loop import RunAborted, run
from orchestrator.network_view import build_metrics
from orchestrator.registry import Registry
from orchestrator.results import Recorder

log = logging.getLogger(__name__)
KEEP_ALIVE_S = fidelity.KEEP_ALIVE_S  # reported seconds an idle connection is kept (uvicorn's default)


def _run_token(cfg: OrchestratorConfig, out: Path) -> str:
    """The given run token, or a fresh one written to <out>/run_token, created 0600."""
    if cfg.token:
        return cfg.token
    token = new_secret()
    path = out / "run_token"
    write_private(path, token)
    log.info("generated a run token; clients find it in %s", path)
    return token


def _registry(cfg: OrchestratorConfig) -> Registry:
    """The run's registry: the provisioned credentials (if any) and the enrolment cap."""
    creds = Credentials.load(cfg.enrolment.credentials_file) if cfg.enrolment.credentials_file else None
    if creds is not None:
        log.info("enrolment: %d provisioned nodes (%s)", len(creds.hashes), cfg.enrolment.credentials_file)
    else:
        log.info("enrolment: no credentials list; each node id is bound to the first holder of the run token")
    return Registry(credentials=creds, capacity=cfg.nodes + cfg.enrolment.spares)


def _tls_files(cfg: OrchestratorConfig, out: Path) -> tuple[str | None, str | None]:
    if cfg.tls.certfile:
        return cfg.tls.certfile, cfg.tls.keyfile
    if not cfg.tls.self_signed:
        return None, None
    from orchestrator.tls import self_signed

    cert, key = self_signed(out / "tls", [cfg.host, "127.0.0.1", "localhost"])
    log.info("self-signed certificate in %s: give it to clients with --ca-bundle", cert)
    return str(cert), str(key)


def serve(cfg: OrchestratorConfig, resume: bool = False) -> dict:
    """Serve until the run finishes; return its summary. Raises RunAborted with a reason.
    With `resume`, continue the run in cfg.out_dir from its last checkpoint."""
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    metrics = build_metrics(cfg)
    registry = _registry(cfg)  # an unusable credentials list is bad input: ValueError before anything is written
    ckpt = None
    if resume:  # a checkpoint that cannot be used is bad input (ValueError: the CLI says so in one line, exit 2)
        ckpt = checkpoint.load(Path(cfg.out_dir), checkpoint.fingerprint(cfg.model_dump(mode="json")))
    recorder = Recorder(  # the run token is a secret: never in the run's record
        cfg.out_dir, cfg.model_dump(mode="json", exclude={"token"}), cfg.seed, ckpt["epoch"] if ckpt else None
    )
    token = _run_token(cfg, recorder.dir)
    coord = Coordinator(cfg, registry, recorder, token)
    certfile, keyfile = _tls_files(cfg, recorder.dir)
    scheme = "https" if certfile else "http"
    server = _Server(
        uvicorn.Config(
            create_app(coord),
            host=cfg.host,
            port=cfg.port,
            log_level="warning",
            access_log=False,
            # uvicorn closes a connection idle for 5 s; in the emulated world that is 5 s too, so that whether
            # a node's next request opens a new connection (a handshake, a fresh TCP window: the fidelity
            # model, orchestrator/fidelity.py) does not depend on the dilation.
            timeout_keep_alive=cfg.emulation.clock.to_wall(KEEP_ALIVE_S),
            ssl_certfile=certfile,
            ssl_keyfile=keyfile,
        )
    )

    async def main() -> dict:
        serving = asyncio.create_task(server.serve())
        while not server.started:
            if serving.done():
                serving.result()
                raise RunAborted(f"could not listen on {cfg.host}:{cfg.port}")
            await asyncio.sleep(0.05)
        port = server.servers[0].sockets[0].getsockname()[1]
        (recorder.dir / "endpoint.json").write_text(json.dumps({"url": f"{scheme}://{cfg.host}:{port}"}))
        log.info("orchestrator listening on %s://%s:%d", scheme, cfg.host, port)
        try:
            summary = await run(coord, metrics, ckpt)
            await asyncio.sleep(1.5)  # let clients collect their STOP task
            return summary
        except RunAborted as exc:
            recorder.write_summary({"policy": cfg.policy, "error": str(exc)})
            raise
        finally:
            server.should_exit = True
            await asyncio.wait([serving], timeout=5.0)  # its own error (or a signal's) is not this block's to raise
            recorder.close()

    return run_loop(main())


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling. uvicorn swaps edgeft's handlers (edgeft/signals.py
    teardown_on_signals) for its own while it serves and re-raises the signal once it has shut
    down, inside its task: the run's worker threads were then waited for, and a SIGTERM after
    any request hung. With edgeft's handlers in place a signal stops the run at any moment."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def run_loop(coro: Coroutine[Any, Any, dict]) -> dict:
    """asyncio.run, except that leaving (a result, an error, a signal) does not wait for the
    loop's worker threads: a workload being built or an update being checked cannot be
    interrupted, and must not keep a stopped orchestrator alive (the CLI ends the process)."""
    loop = asyncio.new_event_loop()
    main = loop.create_task(coro)
    try:
        return loop.run_until_complete(main)
    finally:
        try:
            for wave in (lambda: {main}, lambda: asyncio.all_tasks(loop)):  # the run first: its `finally` stops
                tasks = wave()  # the server gently; then whatever is left
                for task in tasks:
                    task.cancel()
                if tasks:
                    loop.run_until_complete(asyncio.wait(tasks, timeout=5.0))
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            loop.close()  # shuts the default executor down without waiting for it
