"""The run as a whole: liveness and status."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Header, HTTPException

from orchestrator.coordinator import Coordinator
from orchestrator.routes.deps import coordinator, run_token_error

router = APIRouter()


@router.get("/v1/health")
async def health(coord: Coordinator = Depends(coordinator)) -> dict:
    return {"ok": True, "version": coord.version, "finished": coord.finished}


@router.get("/v1/status")
async def status(authorization: str | None = Header(None), coord: Coordinator = Depends(coordinator)) -> dict:
    why = run_token_error(coord, authorization)
    if why:
        raise HTTPException(401, why)
    rnd = coord.round
    return {
        "version": coord.version,
        "adapter_digest": coord.adapters.get(coord.version, (b"", None))[1],
        "epoch": rnd.epoch if rnd else None,
        "finished": coord.finished,
        "nodes": {n.node_id: n.status.value for n in coord.registry.nodes.values()},
    }
