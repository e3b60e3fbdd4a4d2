"""What goes into a checkpoint and how a resumed run gets it back (see checkpoint.py)."""

from __future__ import annotations

import logging
from typing import Any

from edgeft.modeling import load_adapter_state
from orchestrator import checkpoint
from orchestrator.coordinator import Coordinator
from orchestrator.registry import LIVE_STATUSES, NodeStatus
from orchestrator.run_state import RunState
from orchestrator.selection_context import LastSeen

log = logging.getLogger(__name__)


def save_checkpoint(coord: Coordinator, state: RunState, epoch: int, val_loss: float) -> None:
    """Everything the next epoch depends on, after `epoch` is recorded and its parameters published."""
    core = state.core
    nodes = {
        node.node_id: {
            "status": node.status.value,
            "epochs_trained": node.epochs_trained,
            "fail_reason": node.fail_reason,
            "may_return": node.may_return,
        }
        for node in coord.registry.nodes.values()
    }
    coord.recorder.sync()  # the epoch's rows on disk before a checkpoint says the epoch is done
    checkpoint.save(
        coord.recorder.dir,
        {
            "fingerprint": checkpoint.fingerprint(coord.cfg.model_dump(mode="json")),
            "epoch": epoch,
            "version": coord.version,
            "val_loss": val_loss,
            "adapter": state.opt.state(),
            "optimizer": state.opt.state_dict(),
            "nodes": nodes,
            "partition_of": coord.partition_of,
            "total_nodes": core.total_nodes,
            "policy": core.strategy.policy,
            "rng": core.rng.bit_generator.state,
            "history": core.history,
            "coverage": core.coverage,
            "bubbles": core.bubbles,
            "readmissions": core.readmissions,
            "bytes": (coord.bytes_in, coord.bytes_out),
            "elapsed_s": state.elapsed_s(coord.first_send, coord.cfg.emulation.clock),
            "refused": core.refused,
            "rolled_back": core.rolled_back,
            "not_set_up": core.not_set_up,
            "accepted_norms": core.strategy.norm_history(),  # the update guard's reference for small rounds
        },
    )


def live_nodes(ckpt: dict[str, Any]) -> list[str]:
    return sorted(nid for nid, saved in ckpt["nodes"].items() if saved["status"] in LIVE_STATUSES)


def restore_state(coord: Coordinator, state: RunState, ckpt: dict[str, Any]) -> None:
    """Parameters, optimizer, policy and tallies, before the nodes are set up again."""
    core = state.core
    state.opt.load(ckpt["adapter"], ckpt["optimizer"])
    load_adapter_state(coord.workload.model, ckpt["adapter"])
    # the run's own policy, built afresh, gets its state back
    checkpoint.restore_vars(core.strategy.policy, ckpt["policy"])
    core.history = {nid: LastSeen(**seen) for nid, seen in ckpt["history"].items()}
    core.rng.bit_generator.state = ckpt["rng"]
    core.coverage, core.bubbles, core.readmissions = ckpt["coverage"], ckpt["bubbles"], ckpt["readmissions"]
    state.elapsed_before = ckpt["elapsed_s"]
    # checkpoints written before the update guard have neither key
    core.refused, core.rolled_back = list(ckpt.get("refused", [])), list(ckpt.get("rolled_back", []))
    core.strategy.restore_norm_history(ckpt.get("accepted_norms", []))
    core.not_set_up = list(ckpt.get("not_set_up", []))  # older checkpoints: every node was set up
    coord.restore_counters(ckpt["version"], *ckpt["bytes"])


def restore_statuses(coord: Coordinator, ckpt: dict[str, Any]) -> None:
    """After set-up: nodes get their checkpointed status back; a live node that did not
    come back is failed; a node failed before stays failed."""
    for nid, saved in ckpt["nodes"].items():
        node = coord.registry.nodes.get(nid)
        if node is None:
            continue
        node.epochs_trained = saved["epochs_trained"]
        if node.status == NodeStatus.FAILED and saved["status"] in LIVE_STATUSES:
            continue  # did not finish the new set-up: _setup_nodes said why
        node.status, node.fail_reason = NodeStatus(saved["status"]), saved["fail_reason"]
        # failed by silence (may come back) or for an invalid upload (never): checkpoints before it say neither
        node.may_return = bool(saved.get("may_return", False))
    log.info("resumed after epoch %d at v%d", ckpt["epoch"], ckpt["version"])
