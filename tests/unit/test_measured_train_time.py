"""What the scorer trusts (issue 25, item 3): the training time T_i is measured by the
orchestrator, from the moment a node fetched its train task to the moment its result's
body was complete, through the real HTTP API in-process, on an injected clock (the routes'
`time`), so that the figures are exact: a node that declares 0 s is measured, flagged,
and does not get the best T score; an honest node is not flagged. Acks: at most one
syncs.csv row per (node, version); 2000 identical ones add one."""

import csv
import json
import time
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from edgeft.wire import DIGEST_HEADER, META_HEADER, Task, TaskKind, sha256_hex, state_digest, tensors_to_bytes
from edgeft.clock import Clock as RunClock
from orchestrator.epoch_core import remember
from orchestrator.epoch_loop import node_results
from orchestrator.routes import artifacts as artifacts_route, nodes as nodes_route, rounds as rounds_route
from orchestrator.rounds import NO_LINK_ALLOWANCE_S, measured_train_time, train_time_flagged
from orchestrator.scoring import perf_scores
from orchestrator.selection_context import LastSeen
from tests.unit.orchestrator_api import enrolled_api

REF = {"lora_A": torch.zeros(4, 8), "lora_B": torch.zeros(8, 4)}
COMPUTE_S = 0.6  # how long the nodes below "train" (seconds of the injected clock; the run's dilation is 1)


class Clock:
    """The routes' wall clock, moved only by the test (monotonic stays real: the long poll's deadline)."""

    def __init__(self) -> None:
        self.now = 1_000_000.0

    def time(self) -> float:
        return self.now

    def monotonic(self) -> float:
        return time.monotonic()

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock(monkeypatch) -> Clock:
    fake = Clock()
    for module in (nodes_route, rounds_route, artifacts_route):
        monkeypatch.setattr(module, "time", SimpleNamespace(time=fake.time, monotonic=fake.monotonic))
    return fake


@pytest.fixture
def api(tmp_path):
    client, coord, tokens = enrolled_api(tmp_path, REF)
    yield client, coord, tokens, tmp_path
    coord.recorder.close()


def _auth(tokens, node):
    return {"Authorization": f"Bearer {tokens[node]}", "X-Node-Id": node}


def _fetch_train_task(client, coord, tokens, node):
    """The node takes its train task through the long poll, as a real client does."""
    coord.registry.send(coord.registry.nodes[node], Task(kind=TaskKind.TRAIN, epoch=0, version=0))
    r = client.get("/v1/tasks/next", params={"wait": 1}, headers=_auth(tokens, node))
    assert r.status_code == 200 and r.json()["kind"] == "train"


def _post_result(client, tokens, node, declared_s):
    body = tensors_to_bytes({k: torch.ones_like(v) for k, v in REF.items()})
    meta = {
        "node_id": node,
        "epoch": 0,
        "version": 0,
        "train_time_s": declared_s,
        "compute_wall_s": declared_s,
        "download_s": 0.0,
        "loss": 2.0,
        "samples": 4,
        "tokens": 60,
    }
    headers = {**_auth(tokens, node), META_HEADER: json.dumps(meta), DIGEST_HEADER: sha256_hex(body)}
    r = client.post("/v1/results", content=body, headers=headers)
    assert r.status_code == 200, r.text


def test_declared_zero_is_measured_flagged_and_not_the_best_t(api, clock):
    client, coord, tokens, _ = api
    _fetch_train_task(client, coord, tokens, "n1")  # the liar: trains 2 x COMPUTE_S, declares 0 s
    clock.advance(COMPUTE_S)
    _fetch_train_task(client, coord, tokens, "n2")  # the honest node: trains COMPUTE_S, says so
    clock.advance(COMPUTE_S)
    _post_result(client, tokens, "n2", declared_s=COMPUTE_S)  # each right after its own training
    _post_result(client, tokens, "n1", declared_s=0.0)
    liar, honest = coord.round.results["n1"], coord.round.results["n2"]
    assert liar.meta.train_time_s == 0.0 and liar.train_time_s == pytest.approx(2 * COMPUTE_S)
    assert honest.train_time_s == pytest.approx(COMPUTE_S)
    assert liar.train_time_flagged and not honest.train_time_flagged
    history = {n: LastSeen() for n in ("n1", "n2")}
    remember(history, 0, node_results(coord, coord.round, time.time()).values())
    assert [history[n].train_time_s for n in ("n1", "n2")] == [liar.train_time_s, honest.train_time_s]

    def scores(t_liar: float, t_honest: float) -> np.ndarray:
        # equal on every other figure: T alone ranks them
        return perf_scores(np.array([[30, 10, 5, 0, t_liar], [30, 10, 5, 0, t_honest]]), np.full(5, 0.2), np.ones(5))

    claimed = scores(liar.meta.train_time_s, honest.meta.train_time_s)
    used = scores(history["n1"].train_time_s, history["n2"].train_time_s)
    assert claimed[0] > claimed[1]  # what the node's claim would have bought it
    assert used[1] == 1.0 and used[0] < used[1]  # what it gets


def test_measurement_and_flag_rules():
    assert measured_train_time(100.0, 112.0, 2.0, RunClock(2.0)) == 5.0  # (12 s - 2 s of transfer allowance) / k
    assert measured_train_time(100.0, 99.0, 0.0, RunClock(1.0)) == 0.0
    assert train_time_flagged(0.0, 2.0, 0.25, 0.1)
    assert not train_time_flagged(2.5, 2.0, 0.25, 0.1) and train_time_flagged(2.61, 2.0, 0.25, 0.1)
    assert not train_time_flagged(0.05, 0.0, 0.25, 0.1)  # tiny windows: the slack absorbs the noise


def test_timed_transfers_inside_a_task_count_once_and_capped(api, clock):
    """A 10 s transfer the API timed inside the task, with no link figures for the node: at most
    the fixed allowance is taken off (it used to be all 10 s, which made the measurement 0)."""
    client, coord, tokens, _ = api
    _fetch_train_task(client, coord, tokens, "n1")
    clock.advance(COMPUTE_S)
    n1, n2 = coord.registry.nodes["n1"], coord.registry.nodes["n2"]
    assert coord.note_transfer(n1, "adapter", 10**9, 10.0)  # e.g. an in-task sync the API timed
    assert not coord.note_transfer(n1, "adapter", 10**9, 10.0)  # a second one of its kind counts nothing
    assert not coord.note_transfer(n2, "adapter", 10**9, 10.0)  # n2 holds no task: not counted
    _post_result(client, tokens, "n1", declared_s=COMPUTE_S)
    assert coord.round.results["n1"].train_time_s == pytest.approx(COMPUTE_S - NO_LINK_ALLOWANCE_S)
    assert not coord.round.results["n1"].train_time_flagged
    (kind, held), *others = coord.round.transfers["n1"].items()
    assert (kind, others, held.seconds) == ("adapter", [], 10.0)
    assert held.nbytes == len(coord.adapters[0][0])  # capped at the adapter's size


def test_two_thousand_identical_acks_add_one_sync_row(api):
    client, coord, tokens, out = api
    ack = {"node_id": "n1", "kind": "sync", "version": 0, "digest": state_digest(REF)}
    answers = {client.post("/v1/acks", json=ack, headers=_auth(tokens, "n1")).json()["matches"] for _ in range(2000)}
    assert answers == {True}
    other = {**ack, "digest": "0" * 64}  # a different claim for the same version: answered, not recorded
    assert client.post("/v1/acks", json=other, headers=_auth(tokens, "n1")).json() == {"matches": False}
    coord.recorder.sync()
    with (out / "syncs.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert [(r["node_id"], r["digest"]) for r in rows] == [("n1", ack["digest"])]


def test_alternating_digests_for_one_version_add_one_sync_row(api, caplog):
    """Review S4: two digests sent in turn for one version used to add a row every time."""
    client, coord, tokens, out = api
    good = {"node_id": "n1", "kind": "sync", "version": 0, "digest": state_digest(REF)}
    bad = {**good, "digest": "0" * 64}
    with caplog.at_level("WARNING", logger="orchestrator.coordinator"):
        for _ in range(50):
            for ack in (good, bad):
                assert client.post("/v1/acks", json=ack, headers=_auth(tokens, "n1")).status_code == 200
    coord.recorder.sync()
    with (out / "syncs.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert [(r["node_id"], r["version"], r["digest"]) for r in rows] == [("n1", "0", good["digest"])]
    assert coord.registry.nodes["n1"].synced == {0: good["digest"]}  # the first claim stands
    assert sum("another digest" in r.getMessage() for r in caplog.records) == 50
