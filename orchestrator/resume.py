"""What goes into a checkpoint and how a resumed run gets it back (see checkpoint.py)."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from edgeft.modeling import load_adapter_state
from orchestrator import checkpoint
from orchestrator.registry import NodeStatus
from orchestrator.selection import LastSeen

if TYPE_CHECKING:
    from orchestrator.coordinator import Coordinator
    from orchestrator.epoch_loop import RunState

log = logging.getLogger(__name__)
LIVE = (NodeStatus.ACTIVE.value, NodeStatus.ELIMINATED.value)


def save_checkpoint(coord: Coordinator, st: RunState, epoch: int, val_loss: float) -> None:
    """Everything the next epoch depends on, after `epoch` is recorded and its parameters published."""
    nodes = {
        n.node_id: {
            "status": n.status.value,
            "epochs_trained": n.epochs_trained,
            "fail_reason": n.fail_reason,
            "may_return": n.may_return,
        }
        for n in coord.registry.nodes.values()
    }
    coord.recorder.sync()  # the epoch's rows on disk before a checkpoint says the epoch is done
    checkpoint.save(
        coord.recorder.dir,
        {
            "fingerprint": checkpoint.fingerprint(coord.cfg.model_dump(mode="json")),
            "epoch": epoch,
            "version": coord.version,
            "val_loss": val_loss,
            "adapter": st.opt.state(),
            "optimizer": st.opt.state_dict(),
            "nodes": nodes,
            "partition_of": coord.partition_of,
            "total_nodes": st.total_nodes,
            "policy": st.strategy.policy,
            "rng": st.rng.bit_generator.state,
            "history": st.history,
            "coverage": st.coverage,
            "bubbles": st.bubbles,
            "readmissions": st.readmissions,
            "bytes": (coord.bytes_in, coord.bytes_out),
            "elapsed_s": st.elapsed_before + (time.time() - (coord.first_send or time.time())) / coord.cfg.emulation.k,
            "refused": st.refused,
            "rolled_back": st.rolled_back,
            "accepted_norms": st.strategy.norm_history(),  # the update guard's reference for small rounds
        },
    )


def live_nodes(ckpt: dict[str, Any]) -> list[str]:
    return sorted(n for n, s in ckpt["nodes"].items() if s["status"] in LIVE)


def restore_state(coord: Coordinator, st: RunState, ckpt: dict[str, Any]) -> None:
    """Parameters, optimizer, policy and tallies, before the nodes are set up again."""
    st.opt.load(ckpt["adapter"], ckpt["optimizer"])
    load_adapter_state(coord.workload.model, ckpt["adapter"])
    checkpoint.restore_vars(
        st.strategy.policy, ckpt["policy"]
    )  # the run's own policy, built afresh, gets its state back
    st.history = {nid: LastSeen(**h) for nid, h in ckpt["history"].items()}
    st.rng.bit_generator.state = ckpt["rng"]
    st.coverage, st.bubbles, st.readmissions = ckpt["coverage"], ckpt["bubbles"], ckpt["readmissions"]
    st.elapsed_before = ckpt["elapsed_s"]
    # checkpoints written before the update guard have neither key
    st.refused, st.rolled_back = list(ckpt.get("refused", [])), list(ckpt.get("rolled_back", []))
    st.strategy.restore_norm_history(ckpt.get("accepted_norms", []))
    coord.restore_counters(ckpt["version"], *ckpt["bytes"])


def restore_statuses(coord: Coordinator, ckpt: dict[str, Any]) -> None:
    """After set-up: nodes get their checkpointed status back; a live node that did not
    come back is failed; a node failed before stays failed."""
    for nid, saved in ckpt["nodes"].items():
        node = coord.registry.nodes.get(nid)
        if node is None:
            continue
        node.epochs_trained = saved["epochs_trained"]
        if node.status == NodeStatus.FAILED and saved["status"] in LIVE:
            continue  # did not finish the new set-up: _setup_nodes said why
        node.status, node.fail_reason = NodeStatus(saved["status"]), saved["fail_reason"]
        # failed by silence (may come back) or for an invalid upload (never): checkpoints before it say neither
        node.may_return = bool(saved.get("may_return", False))
    log.info("resumed after epoch %d at v%d", ckpt["epoch"], ckpt["version"])
