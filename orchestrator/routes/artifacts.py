"""What nodes download (base model or its digest, LoRA settings, their partition, the
adapter versions) and the paper-volume padding both ways."""

from __future__ import annotations

import logging
import time

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from fastapi.responses import StreamingResponse

from edgeft.wire import DIGEST_HEADER, BaseInfo, sha256_hex
from orchestrator.coordinator import Coordinator
from orchestrator.registry import Node
from orchestrator.routes.deps import OCTET, coordinator, node_auth, ready

log = logging.getLogger("orchestrator.api")
router = APIRouter()


@router.get("/v1/artifacts/base-info", response_model=BaseInfo)
async def base_info(node: Node = Depends(node_auth), coord: Coordinator = Depends(coordinator)) -> BaseInfo:
    """How this node gets the base model: sent (transfer) or its own copy (preinstalled, checked by digest)."""
    w = ready(coord)
    if w.base_info is None:
        raise HTTPException(503, "the base model is not ready yet")
    return w.base_info


@router.get("/v1/artifacts/base")
async def base(node: Node = Depends(node_auth), coord: Coordinator = Depends(coordinator)) -> Response:
    data = ready(coord).base_bundle
    if data is None:
        raise HTTPException(409, "this run's base model is preinstalled on the nodes (GET /v1/artifacts/base-info)")
    coord.count_out(len(data))
    return Response(data, media_type=OCTET, headers={DIGEST_HEADER: sha256_hex(data)})


@router.get("/v1/artifacts/lora")
async def lora(node: Node = Depends(node_auth), coord: Coordinator = Depends(coordinator)) -> Response:
    return Response(ready(coord).lora_json, media_type="application/json")


@router.get("/v1/artifacts/partition/{node_id}")
async def partition(
    node_id: str, node: Node = Depends(node_auth), coord: Coordinator = Depends(coordinator)
) -> Response:
    if node_id != node.node_id:
        log.warning("node %s asked for the partition of %s", node.node_id, node_id)
        raise HTTPException(403, "a node may only download its own partition")
    ready(coord)
    data = coord.partition_bytes(node)
    coord.count_out(len(data))
    return Response(data, media_type=OCTET, headers={DIGEST_HEADER: sha256_hex(data)})


@router.get("/v1/artifacts/adapter/{version}")
async def adapter(version: int, node: Node = Depends(node_auth), coord: Coordinator = Depends(coordinator)) -> Response:
    started = time.time()
    if version not in coord.adapters:
        raise HTTPException(404, f"adapter version {version} is not available (current {coord.version})")
    data, digest = coord.adapters[version]
    coord.count_out(len(data))
    headers = {DIGEST_HEADER: sha256_hex(data), "X-State-Digest": digest, "Content-Length": str(len(data))}
    # Streamed, so that the transfer (not only this handler) is timed: until the last chunk is handed
    # to the connection. A node that reads slowly gains nothing: the time is capped by its link's
    # prediction (orchestrator/rounds.py transfer_allowance).
    return StreamingResponse(_timed(_chunks(data), coord, node, "adapter", started), media_type=OCTET, headers=headers)


@router.get("/v1/artifacts/padding/{nbytes}")
async def padding(nbytes: int, node: Node = Depends(node_auth), coord: Coordinator = Depends(coordinator)) -> Response:
    """Filler bytes for the "paper volumes" mode (see OrchestratorConfig.paper_volumes)."""
    if not 0 <= nbytes <= coord.cfg.setup_pad(len(coord.registry.nodes)) + coord.cfg.model_pad():
        raise HTTPException(400, f"padding of {nbytes} bytes is more than this run's paper_volumes setting asks for")
    coord.count_out(nbytes)
    body = _timed(_zeros(nbytes), coord, node, "pad_down", time.time())
    return StreamingResponse(body, media_type=OCTET, headers={"Content-Length": str(nbytes)})


@router.post("/v1/padding")
async def upload_padding(
    request: Request, node: Node = Depends(node_auth), coord: Coordinator = Depends(coordinator)
) -> dict:
    started, size = time.time(), 0
    async for part in request.stream():
        size += len(part)
        if size > coord.cfg.model_pad():
            raise HTTPException(413, "padding upload larger than this run's paper_volumes setting")
    coord.count_in(size)
    # inside a train task: the first one counts, capped by its link's prediction (orchestrator/rounds.py)
    coord.note_transfer(node, "pad_up", size, time.time() - started)
    return {"received": size}


async def _timed(chunks, coord: Coordinator, node: Node, kind: str, started: float):
    """Pass `chunks` through; once the last one is handed to the connection, note the transfer."""
    sent = 0
    async for part in chunks:
        sent += len(part)
        yield part
    coord.note_transfer(node, kind, sent, time.time() - started)


async def _chunks(data: bytes, chunk: int = 1 << 20):
    for at in range(0, len(data), chunk):
        yield data[at : at + chunk]


async def _zeros(nbytes: int, chunk: int = 1 << 20):
    block = bytes(chunk)
    while nbytes > 0:
        yield block[: min(nbytes, chunk)]
        nbytes -= chunk
