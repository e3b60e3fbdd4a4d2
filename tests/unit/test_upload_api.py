"""The orchestrator's HTTP API on bad uploads and bad credentials (in-process, no workload)."""

import json

import pytest
import torch

from edgeft.wire import DIGEST_HEADER, META_HEADER, sha256_hex, tensors_to_bytes
from orchestrator.rounds import Round
from tests.unit.orchestrator_api import enrolled_api

REF = {"lora_A": torch.zeros(4, 8), "lora_B": torch.zeros(8, 4)}


@pytest.fixture
def api(tmp_path):
    return enrolled_api(tmp_path, REF, max_upload_mb=0.01)


def _meta(node="n1", **kw):
    m = {
        "node_id": node,
        "epoch": 0,
        "version": 0,
        "train_time_s": 1.0,
        "compute_wall_s": 1.0,
        "download_s": 0.0,
        "loss": 2.0,
        "samples": 4,
        "tokens": 60,
    }
    m.update(kw)
    return json.dumps(m)


def _post(client, tokens, body, node="n1", meta=None, digest=None):
    headers = {
        "Authorization": f"Bearer {tokens[node]}",
        "X-Node-Id": node,
        META_HEADER: meta or _meta(node),
        DIGEST_HEADER: digest if digest is not None else sha256_hex(body),
    }
    return client.post("/v1/results", content=body, headers=headers)


def good():
    return {k: torch.ones_like(v) for k, v in REF.items()}


def test_valid_upload_is_accepted_once(api):
    client, coord, tokens = api
    body = tensors_to_bytes(good())
    assert _post(client, tokens, body).status_code == 200
    again = _post(client, tokens, body)
    assert again.status_code == 409 and "duplicate" in again.json()["detail"]
    assert list(coord.round.results) == ["n1"]


@pytest.mark.parametrize(
    "mutate,status,fragment",
    [
        (lambda t: {**t, "lora_A": torch.ones(5, 8)}, 400, "shape"),
        (lambda t: {**t, "lora_A": torch.ones(4, 8, dtype=torch.float16)}, 400, "dtype"),
        (lambda t: {**t, "lora_B": torch.full((8, 4), float("nan"))}, 400, "NaN"),
        (lambda t: {"lora_A": t["lora_A"]}, 400, "missing"),
    ],
)
def test_bad_tensors_get_4xx_and_the_node_is_marked(api, mutate, status, fragment):
    client, coord, tokens = api
    r = _post(client, tokens, tensors_to_bytes(mutate(good())))
    assert r.status_code == status and fragment in r.json()["detail"]
    assert "n1" in coord.round.failures and "n2" in coord.round.pending()


def test_wrong_digest_truncated_and_oversized(api):
    client, coord, tokens = api
    body = tensors_to_bytes(good())
    r = _post(client, tokens, body, digest="0" * 64)
    assert r.status_code == 400 and "digest" in r.json()["detail"]
    r = _post(client, tokens, body[:-20], node="n2", digest=sha256_hex(body[:-20]))
    assert r.status_code == 400 and "safetensors" in r.json()["detail"]
    huge = b"\0" * 20_000
    r = _post(client, tokens, huge, node="n2")
    assert r.status_code in (409, 413)  # n2 already failed; size is checked first
    coord.open_round(Round(epoch=1, version=0, expected={"n2"}))
    r = _post(client, tokens, huge, node="n2", meta=_meta("n2", epoch=1))
    assert r.status_code == 413 and "limit" in r.json()["detail"]


def test_bad_metadata_and_late_results(api):
    client, coord, tokens = api
    body = tensors_to_bytes(good())
    r = _post(client, tokens, body, meta="{not json")
    assert r.status_code == 400 and "not JSON" in r.json()["detail"]
    r = _post(client, tokens, body, meta=_meta(samples=0))
    assert r.status_code == 400 and "samples" in r.json()["detail"]
    r = _post(client, tokens, body, meta=_meta(epoch=5))
    assert r.status_code == 409 and "late or early" in r.json()["detail"]
    r = _post(client, tokens, body, meta=_meta(node="n2"))
    assert r.status_code == 403


def test_auth_unknown_node_wrong_token_and_cross_node(api):
    client, coord, tokens = api
    assert (
        client.get("/v1/tasks/next?wait=0", headers={"X-Node-Id": "n9", "Authorization": "Bearer x"}).status_code == 401
    )
    assert (
        client.get(
            "/v1/tasks/next?wait=0", headers={"X-Node-Id": "n1", "Authorization": f"Bearer {tokens['n2']}"}
        ).status_code
        == 401
    )
    assert client.get("/v1/tasks/next?wait=0").status_code == 401
    assert (
        client.post(
            "/v1/enroll", json={"node_id": "n3", "compute_power": 1}, headers={"Authorization": "Bearer nope"}
        ).status_code
        == 401
    )
    r = client.get("/v1/artifacts/partition/n2", headers={"X-Node-Id": "n1", "Authorization": f"Bearer {tokens['n1']}"})
    assert r.status_code == 403
    r = client.post(
        "/v1/enroll", json={"node_id": "bad id!", "compute_power": -1}, headers={"Authorization": "Bearer runtok"}
    )
    assert r.status_code == 422 and "node_id" in r.json()["detail"]


def test_a_node_that_lies_about_its_share_is_refused_and_cannot_outweigh_its_partition(api):
    client, coord, tokens = api
    body = tensors_to_bytes(good())
    r = _post(client, tokens, body, meta=_meta(tokens=6000))  # claims 100x its tokens
    assert r.status_code == 400 and "partition has 4 / 60" in r.json()["detail"]
    assert "n1" in coord.round.failures and "n1" not in coord.round.results
    honest = {k: torch.full_like(v, 2.0) for k, v in REF.items()}
    assert _post(client, tokens, tensors_to_bytes(honest), node="n2").status_code == 200
    # What gets aggregated: only n2's update, at the weight handed out to it.
    ids = sorted(coord.round.results)
    from orchestrator.aggregation import weighted_mean

    agg = weighted_mean([coord.round.results[i].update for i in ids], [coord.weight(i) for i in ids])
    assert torch.equal(
        agg["lora_A"], honest["lora_A"]
    )  # the liar moved the aggregate by nothing (its honest weight: half)
