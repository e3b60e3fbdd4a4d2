"""The orchestrator's HTTP API in-process for unit tests: a Coordinator with a round open for
two enrolled nodes, served through FastAPI's TestClient (real routes, real authentication)."""

from __future__ import annotations

from pathlib import Path

import torch
from fastapi.testclient import TestClient

from orchestrator.api import create_app
from orchestrator.config import OrchestratorConfig
from orchestrator.coordinator import Coordinator
from orchestrator.registry import Registry
from orchestrator.results import Recorder
from orchestrator.rounds import Round

NODES = ("n1", "n2")


def enrolled_api(
    out_dir: Path, adapter: dict[str, torch.Tensor], **config: object
) -> tuple[TestClient, Coordinator, dict[str, str]]:
    """A client of a run of two nodes, both enrolled (their node tokens returned), in epoch 0;
    each was handed 4 sequences of 16 tokens."""
    cfg = OrchestratorConfig(nodes=len(NODES), policy="ar", **config)
    coord = Coordinator(cfg, Registry("s3cret"), Recorder(out_dir, {}, 0), "runtok")
    coord.publish_adapter(adapter)
    coord.shares = {node: (4, 60) for node in NODES}
    coord.open_round(Round(epoch=0, version=0, expected=set(NODES)))
    client = TestClient(create_app(coord))
    tokens = {}
    for node in NODES:
        answer = client.post(
            "/v1/enroll", json={"node_id": node, "compute_power": 30}, headers={"Authorization": "Bearer runtok"}
        )
        assert answer.status_code == 200, answer.text
        tokens[node] = answer.json()["node_token"]
    return client, coord, tokens
