"""The orchestrator's HTTP API (FastAPI): enrolment, long-polled tasks,
artifact downloads, result uploads, sync acknowledgements.

Clients pull: edge devices sit behind NAT, so the orchestrator never dials them.
Every request is authenticated: enrolment with the run token, everything else
with the per-node token returned at enrolment.
"""
from __future__ import annotations

import asyncio
import logging
import time

from fastapi import Depends, FastAPI, Header, HTTPException, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse

from edgeft.wire import DIGEST_HEADER, META_HEADER, Ack, BaseInfo, EnrollRequest, EnrollResponse, Task, TaskKind, sha256_hex
from orchestrator import api_contract
from orchestrator.coordinator import Coordinator
from orchestrator.registry import Node, NodeStatus
from orchestrator.rounds import RoundReject

log = logging.getLogger(__name__)
OCTET = "application/octet-stream"


def _bearer(authorization: str | None) -> str:
    if not authorization or not authorization.startswith("Bearer "):
        raise HTTPException(401, "missing 'Authorization: Bearer <token>' header")
    return authorization[7:]


def create_app(coord: Coordinator) -> FastAPI:
    app = FastAPI(title="edgeft orchestrator", version="1")
    api_contract.install(app)
    reg = coord.registry

    @app.exception_handler(RoundReject)
    async def _reject(_: Request, exc: RoundReject) -> JSONResponse:
        return JSONResponse({"detail": exc.message}, status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        e = exc.errors()[0]
        return JSONResponse({"detail": f"field '{'.'.join(map(str, e['loc']))}': {e['msg']}"}, status_code=422)

    def _welcome_back(node: Node, why: str) -> None:
        """A node that comes back re-syncs from scratch and waits on standby (benched):
        the next selection may take it again."""
        node.status, node.may_return = NodeStatus.ELIMINATED, False
        node.mailbox.clear()
        # padded like a first set-up: in paper-volume mode the node fetches the model again
        reg.send(node, coord.task(kind=TaskKind.SETUP, version=coord.version, pad_down=coord.cfg.setup_pad(len(reg.nodes))))
        log.info("node %s %s; re-syncing v%d", node.node_id, why, coord.version)

    def node_auth(request: Request, authorization: str | None = Header(None), x_node_id: str | None = Header(None)) -> Node:
        token = _bearer(authorization)
        node = reg.authenticate(x_node_id or "", token)
        if node is None:
            log.warning("unauthenticated request from %s for node '%s'", request.client.host if request.client else "?", x_node_id)
            raise HTTPException(401, "unknown node or wrong node token: enrol first with the run token")
        return node

    @app.get("/v1/health")
    async def health() -> dict:
        return {"ok": True, "version": coord.version, "finished": coord.finished}

    @app.post("/v1/enroll", response_model=EnrollResponse)
    async def enroll(req: EnrollRequest, request: Request, authorization: str | None = Header(None)) -> EnrollResponse:
        if _bearer(authorization) != coord.run_token:
            log.warning("enrolment of '%s' with a wrong run token", req.node_id)
            raise HTTPException(401, "wrong run token")
        known = req.node_id in reg.nodes
        ip = req.ip or (request.client.host if request.client else None)
        node = reg.enroll(req.node_id, req.compute_power, req.device, ip)
        if known and node.status == NodeStatus.FAILED and coord.workload is not None:
            _welcome_back(node, "re-enrolled after failing")
        return EnrollResponse(node_id=node.node_id, node_token=node.token, heartbeat_s=coord.cfg.timeouts.heartbeat_s)

    @app.get("/v1/tasks/next", response_model=Task, responses={204: {"description": "no task yet"}})
    async def next_task(wait: float = Query(20.0, ge=0, le=60), node: Node = Depends(node_auth)):
        if node.status == NodeStatus.FAILED and node.may_return and coord.workload is not None:
            _welcome_back(node, "is polling again after going silent (link back up?)")
        deadline = time.monotonic() + wait
        while not node.mailbox:
            node.wakeup.clear()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return Response(status_code=204)
            try:
                await asyncio.wait_for(node.wakeup.wait(), timeout=remaining)
            except asyncio.TimeoutError:
                pass
            node.last_seen = time.monotonic()
        task: Task = node.mailbox.popleft()
        rnd = coord.round
        if task.kind == TaskKind.TRAIN and rnd is not None and rnd.epoch == task.epoch:
            rnd.delivered_at[node.node_id] = time.time()
        return task

    @app.post("/v1/heartbeat")
    async def heartbeat(node: Node = Depends(node_auth)) -> dict:
        return {"ok": True}

    @app.get("/v1/artifacts/base-info", response_model=BaseInfo)
    async def base_info(node: Node = Depends(node_auth)) -> BaseInfo:
        """How this node gets the base model: sent (transfer) or its own copy (preinstalled, checked by digest)."""
        w = _ready(coord)
        if w.base_info is None:
            raise HTTPException(503, "the base model is not ready yet")
        return w.base_info

    @app.get("/v1/artifacts/base")
    async def base(node: Node = Depends(node_auth)) -> Response:
        data = _ready(coord).base_bundle
        if data is None:
            raise HTTPException(409, "this run's base model is preinstalled on the nodes (GET /v1/artifacts/base-info)")
        coord.count_out(len(data))
        return Response(data, media_type=OCTET, headers={DIGEST_HEADER: sha256_hex(data)})

    @app.get("/v1/artifacts/lora")
    async def lora(node: Node = Depends(node_auth)) -> Response:
        return Response(_ready(coord).lora_json, media_type="application/json")

    @app.get("/v1/artifacts/partition/{node_id}")
    async def partition(node_id: str, node: Node = Depends(node_auth)) -> Response:
        if node_id != node.node_id:
            log.warning("node %s asked for the partition of %s", node.node_id, node_id)
            raise HTTPException(403, "a node may only download its own partition")
        _ready(coord)
        data = coord.partition_bytes(node)
        coord.count_out(len(data))
        return Response(data, media_type=OCTET, headers={DIGEST_HEADER: sha256_hex(data)})

    @app.get("/v1/artifacts/padding/{nbytes}")
    async def padding(nbytes: int, node: Node = Depends(node_auth)) -> Response:
        """Filler bytes for the "paper volumes" mode (see OrchestratorConfig.paper_volumes)."""
        if not 0 <= nbytes <= coord.cfg.setup_pad(len(reg.nodes)) + coord.cfg.model_pad():
            raise HTTPException(400, f"padding of {nbytes} bytes is more than this run's paper_volumes setting asks for")
        coord.count_out(nbytes)
        return StreamingResponse(_zeros(nbytes), media_type=OCTET, headers={"Content-Length": str(nbytes)})

    @app.post("/v1/padding")
    async def upload_padding(request: Request, node: Node = Depends(node_auth)) -> dict:
        size = 0
        async for part in request.stream():
            size += len(part)
            if size > coord.cfg.model_pad():
                raise HTTPException(413, "padding upload larger than this run's paper_volumes setting")
        coord.bytes_in += size
        return {"received": size}

    @app.get("/v1/artifacts/adapter/{version}")
    async def adapter(version: int, node: Node = Depends(node_auth)) -> Response:
        if version not in coord.adapters:
            raise HTTPException(404, f"adapter version {version} is not available (current {coord.version})")
        data, digest = coord.adapters[version]
        coord.count_out(len(data))
        return Response(data, media_type=OCTET, headers={DIGEST_HEADER: sha256_hex(data), "X-State-Digest": digest})

    @app.post("/v1/results")
    async def results(request: Request, node: Node = Depends(node_auth)) -> dict:
        body = await _read_limited(request, coord.max_upload)
        arrived = time.time()
        meta = request.headers.get(META_HEADER)
        result = await asyncio.to_thread(coord.accept_result, node, meta, request.headers.get(DIGEST_HEADER), body, arrived)
        return {"accepted": True, "epoch": result.meta.epoch}

    @app.post("/v1/acks")
    async def acks(ack: Ack, node: Node = Depends(node_auth)) -> dict:
        return {"matches": coord.record_ack(node, ack)}

    @app.get("/v1/status")
    async def status(authorization: str | None = Header(None)) -> dict:
        if _bearer(authorization) != coord.run_token:
            raise HTTPException(401, "wrong run token")
        rnd = coord.round
        return {
            "version": coord.version,
            "adapter_digest": coord.adapters.get(coord.version, (b"", None))[1],
            "epoch": rnd.epoch if rnd else None,
            "finished": coord.finished,
            "nodes": {n.node_id: n.status.value for n in reg.nodes.values()},
        }

    return app


def _ready(coord: Coordinator):
    if coord.workload is None:
        raise HTTPException(503, "the workload is still being prepared; retry shortly")
    return coord.workload


async def _zeros(n: int, chunk: int = 1 << 20):
    block = bytes(chunk)
    while n > 0:
        yield block[: min(n, chunk)]
        n -= chunk


async def _read_limited(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise HTTPException(413, f"upload of {declared} bytes exceeds the {limit}-byte limit (max_upload_mb)")
    chunks, size = [], 0
    async for part in request.stream():
        size += len(part)
        if size > limit:
            raise HTTPException(413, f"upload exceeds the {limit}-byte limit (max_upload_mb)")
        chunks.append(part)
    return b"".join(chunks)
