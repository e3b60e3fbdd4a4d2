"""Run an orchestrator: HTTP API (uvicorn) and the epoch loop on one event loop."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import secrets
from pathlib import Path

import torch
import uvicorn

from orchestrator import checkpoint
from orchestrator.api import create_app
from orchestrator.config import OrchestratorConfig
from orchestrator.coordinator import Coordinator
from orchestrator.epoch_loop import RunAborted, run
from orchestrator.network_view import build_metrics
from orchestrator.registry import Registry
from orchestrator.results import Recorder

log = logging.getLogger(__name__)


def _run_token(cfg: OrchestratorConfig, out: Path) -> str:
    if cfg.token:
        return cfg.token
    token = secrets.token_hex(24)  # hex: a token starting with "-" reads as a CLI flag
    path = out / "run_token"
    path.write_text(token)
    os.chmod(path, 0o600)
    log.info("generated a run token; clients find it in %s", path)
    return token


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
    ckpt = None
    if resume:  # a checkpoint that cannot be used is bad input (ValueError: the CLI says so in one line, exit 2)
        ckpt = checkpoint.load(Path(cfg.out_dir), checkpoint.fingerprint(cfg.model_dump(mode="json")))
    recorder = Recorder(
        cfg.out_dir, cfg.model_dump(mode="json", exclude={"token"}), cfg.seed, ckpt["epoch"] if ckpt else None
    )
    token = _run_token(cfg, recorder.dir)
    coord = Coordinator(cfg, Registry(token), recorder, token)
    certfile, keyfile = _tls_files(cfg, recorder.dir)
    scheme = "https" if certfile else "http"
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(coord),
            host=cfg.host,
            port=cfg.port,
            log_level="warning",
            access_log=False,
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
            await serving
            recorder.close()

    return asyncio.run(main())
