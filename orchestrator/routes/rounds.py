"""What nodes hand in: a round's result (their update) and sync acknowledgements."""

from __future__ import annotations

import asyncio
import time

from fastapi import APIRouter, Depends, HTTPException, Request

from edgeft.wire import DIGEST_HEADER, META_HEADER, Ack
from orchestrator.coordinator import Coordinator
from orchestrator.registry import Node
from orchestrator.routes.deps import coordinator, node_auth

router = APIRouter()


@router.post("/v1/results")
async def results(request: Request, node: Node = Depends(node_auth), coord: Coordinator = Depends(coordinator)) -> dict:
    # The measured window ends when the body is complete, not when the headers came: a node could send
    # its headers at once and its body after training. `started` only times the upload, and what it
    # times is capped by the node's link figures (orchestrator/rounds.py transfer_allowance).
    started = time.time()
    body = await _read_limited(request, coord.max_upload)
    arrived = time.time()
    meta = request.headers.get(META_HEADER)
    result = await asyncio.to_thread(
        coord.accept_result, node, meta, request.headers.get(DIGEST_HEADER), body, arrived, started
    )
    return {"accepted": True, "epoch": result.meta.epoch}


@router.post("/v1/acks")
async def acks(ack: Ack, node: Node = Depends(node_auth), coord: Coordinator = Depends(coordinator)) -> dict:
    """Idempotent: the same acknowledgement again answers the same and records nothing new."""
    return {"matches": coord.record_ack(node, ack)}


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
