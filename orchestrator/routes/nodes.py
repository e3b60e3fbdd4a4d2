"""Enrolment, the long-polled task queue and heartbeats."""

from __future__ import annotations

import asyncio
import logging
import time

from fastapi import APIRouter, Depends, Header, HTTPException, Query, Request, Response

from edgeft.wire import EnrollRequest, EnrollResponse, Task, TaskKind
from orchestrator.coordinator import Coordinator
from orchestrator.registry import EnrolRefused, Node, NodeStatus
from orchestrator.routes.deps import coordinator, enrol_error, node_auth

log = logging.getLogger("orchestrator.api")
router = APIRouter()


def welcome_back(coord: Coordinator, node: Node, why: str) -> None:
    """A node that comes back re-syncs from scratch and waits on standby (benched):
    the next selection may take it again."""
    node.status, node.may_return = NodeStatus.ELIMINATED, False
    node.mailbox.clear()
    # padded like a first set-up: in paper-volume mode the node fetches the model again
    coord.registry.send(
        node,
        coord.task(
            kind=TaskKind.SETUP,
            version=coord.version,
            pad_down=coord.cfg.setup_pad(len(coord.registry.nodes)),
            batch_size=coord.cfg.training.batch_size,
        ),
    )
    log.info("node %s %s; re-syncing v%d", node.node_id, why, coord.version)


@router.post("/v1/enroll", response_model=EnrollResponse)
async def enroll(
    req: EnrollRequest,
    request: Request,
    authorization: str | None = Header(None),
    x_node_id: str | None = Header(None),
    x_node_token: str | None = Header(None),
    coord: Coordinator = Depends(coordinator),
) -> EnrollResponse:
    """Enrol with the run's enrolment credential (a provisioned node's own secret, or the run
    token in a trial). The IP the node's network figures are looked up by is its provisioned
    one or its connection's; the body's `ip` is only recorded as what the node declared."""
    why = enrol_error(coord, authorization, x_node_id)
    if why:
        log.warning("enrolment of '%s' refused: %s", req.node_id, why)
        raise HTTPException(401, why)
    if x_node_id is not None and x_node_id != req.node_id:
        raise HTTPException(400, f"X-Node-Id '{x_node_id}' and the body's node_id '{req.node_id}' differ")
    check_compute_power(coord, req.compute_power)
    reg = coord.registry
    try:
        reg.admit(req.node_id, x_node_token)
    except EnrolRefused as exc:
        log.warning("enrolment of '%s' refused: %s", req.node_id, exc.message)
        raise HTTPException(exc.status, exc.message) from None
    known = req.node_id in reg.nodes
    provisioned = reg.credentials.ips.get(req.node_id) if reg.credentials else None
    ip = provisioned or (request.client.host if request.client else None)
    if req.ip and req.ip != ip:
        log.info("node %s declares ip %s; its figures are looked up by %s", req.node_id, req.ip, ip)
    node = reg.enroll(req.node_id, req.compute_power, req.device, ip, declared_ip=req.ip)
    if known and node.status == NodeStatus.FAILED and coord.workload is not None:
        welcome_back(coord, node, "re-enrolled after going silent")
    return EnrollResponse(node_id=node.node_id, node_token=node.token, heartbeat_s=coord.cfg.timeouts.heartbeat_s)


def check_compute_power(coord: Coordinator, power: float) -> None:
    """A compute power outside the run's configured range is refused (422): a node cannot
    declare itself a thousand times faster than any real one to win every selection."""
    lo, hi = coord.cfg.enrolment.compute_power_min, coord.cfg.enrolment.compute_power_max
    if not lo <= power <= hi:
        raise HTTPException(
            422,
            f"field 'compute_power': {power:g} is outside this run's range [{lo:g}, {hi:g}] "
            "(enrolment.compute_power_min/max)",
        )


@router.get("/v1/tasks/next", response_model=Task, responses={204: {"description": "no task yet"}})
async def next_task(
    wait: float = Query(20.0, ge=0, le=60), node: Node = Depends(node_auth), coord: Coordinator = Depends(coordinator)
):
    if node.status == NodeStatus.FAILED and node.may_return and coord.workload is not None:
        welcome_back(coord, node, "is polling again after going silent (link back up?)")
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


@router.post("/v1/heartbeat")
async def heartbeat(node: Node = Depends(node_auth)) -> dict:
    return {"ok": True}
