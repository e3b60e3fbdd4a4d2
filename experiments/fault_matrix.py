"""The fault matrix (reliability issue), on loopback, no root:

    .venv/bin/python -m experiments.fault_matrix [--rounds 10] [--out DIR]

Causes each fault for real (experiments/faults.py) and prints: fault, detected
after (s), run outcome, results lost (epochs missing from the run folder; must be
0). Then sends bad inputs to a live orchestrator API and bad configs to the
config loader and prints how many got a clean 4xx / a one-line error naming the
field. As root it adds the Mininet rows: a node's link taken down and brought
back, and the controller app stopped and restarted, mid-run.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import statistics
import sys
import tempfile
from pathlib import Path


import torch
from fastapi.testclient import TestClient

from edgeft.config_files import ConfigError, build
from edgeft.wire import DIGEST_HEADER, META_HEADER, sha256_hex, tensors_to_bytes
from experiments.faults import controller_restart, hung_clients, link_flap, resumed_run
from orchestrator.api import create_app
from orchestrator.config import OrchestratorConfig
from orchestrator.coordinator import Coordinator
from orchestrator.registry import Registry
from orchestrator.results import Recorder
from orchestrator.rounds import Round

REF = {"lora_A": torch.zeros(4, 8), "lora_B": torch.zeros(8, 4)}
GOOD = {k: torch.ones_like(v) for k, v in REF.items()}
BAD_UPLOADS = {
    "wrong shape": lambda: tensors_to_bytes({**GOOD, "lora_A": torch.ones(5, 8)}),
    "wrong dtype": lambda: tensors_to_bytes({**GOOD, "lora_A": torch.ones(4, 8, dtype=torch.float16)}),
    "NaN": lambda: tensors_to_bytes({**GOOD, "lora_B": torch.full((8, 4), float("nan"))}),
    "Inf": lambda: tensors_to_bytes({**GOOD, "lora_B": torch.full((8, 4), float("inf"))}),
    "missing tensor": lambda: tensors_to_bytes({"lora_A": GOOD["lora_A"]}),
    "truncated body": lambda: tensors_to_bytes(GOOD)[:-20],
    "garbage body": lambda: b"\x00not safetensors",
    "oversized body": lambda: bytes(50_000),
}
BAD_CONFIGS = {
    "weights do not sum to 1": (
        {"scoring": {"weights": {"compute": 0.5, "bandwidth": 0.5, "delay": 0.5, "loss": 0, "train_time": 0}}},
        "scoring.weights",
    ),
    "utopia outside [0, 1]": (
        {"scoring": {"utopia": {"compute": 2, "bandwidth": 1, "delay": 1, "loss": 1, "train_time": 1}}},
        "scoring.utopia",
    ),
    "N <= T for NE": ({"nodes": 5, "training": {"epochs": 10}}, "nodes > epochs"),
    "negative rate": ({"scenario": [{"epoch": 1, "node_id": "n", "bandwidth_mbps": -3}]}, "bandwidth_mbps"),
    "missing model path": ({"model": {"base_model_path": "/nonexistent/model"}}, "model.base_model_path"),
    "missing dataset": ({"data": {"dataset": "/nonexistent.jsonl"}}, "data.dataset"),
    "unknown key": ({"trainig": {}}, "unknown config key 'trainig'"),
    "unknown policy": ({"policy": "greedy"}, "policy"),
    "lambda out of range": ({"policy_options": {"oort_epsilon": 3}}, "policy_options.oort_epsilon"),
}


def table(rows: list[tuple]) -> str:
    lines = ["| fault | detected after (s) | run outcome | results lost |", "|---|---|---|---|"]
    return "\n".join(lines + [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows])


def client_rows(tmp: Path, rounds: int) -> list[tuple]:
    out = []
    for label, sig in (
        ("client frozen mid-training (SIGSTOP), then restarted", signal.SIGSTOP),
        ("client killed mid-training (SIGKILL), then restarted", signal.SIGKILL),
    ):
        r = hung_clients(tmp / label.split()[1], rounds, sig=sig)
        lost = r["summary"].get("epochs", rounds + 1) - len(r["epochs"])
        failed = sum(bool(e["failed"]) for e in r["epochs"])
        threads, fds = zip(*r["footprints"])
        outcome = (
            f"{'completed' if r['rc'] == 0 else 'FAILED'}; {failed}/{rounds} rounds failed the node and went on; "
            f"restarted nodes set up again: "
            f"{sum('set up' in x for x in r['restarted_logs'])}/{len(r['restarted_logs'])}; "
            f"orchestrator threads {threads[0]}->{threads[-1]}, fds {fds[0]}->{fds[-1]}"
        )
        out.append(
            (
                f"{label} x{rounds}",
                f"median {statistics.median(r['detect_s']):.1f}, max {max(r['detect_s']):.1f}",
                outcome,
                lost,
            )
        )
    return out


def resume_row(tmp: Path) -> tuple:
    ref, res = resumed_run(tmp / "ref", kill=False), resumed_run(tmp / "res", kill=True)
    same = all(
        a[k] == b[k]
        for a, b in zip(ref["epochs"], res["epochs"])
        for k in ("val_loss", "adapter_digest", "active_nodes")
    )
    same = same and ref["summary"].get("final_adapter_digest") == res["summary"].get("final_adapter_digest")
    outcome = (
        f"{'completed' if res['rc'] == 0 else 'FAILED'} after --resume; "
        f"equals the uninterrupted run: {'yes' if same else 'NO'}"
    )
    return (
        "orchestrator killed (SIGKILL), restarted with --resume",
        f"restart {res['resume_s']:.1f}",
        outcome,
        3 - len(res["epochs"]),
    )


def mininet_rows(tmp: Path) -> list[tuple]:
    if os.geteuid() != 0:
        return [
            (
                "link down/up, controller restart (Mininet)",
                "-",
                "needs root: sudo .venv/bin/python experiments/fault_matrix.py",
                "-",
            )
        ]
    flap = link_flap(tmp / "flap")
    back = [e["epoch"] for e in flap["epochs"] if "node-03" in e["active_nodes"].split(";") and int(e["epoch"]) > 3]
    seen = flap.get("while_down") or {}
    rows = [
        (
            "node-03's link down at epoch 1, up at epoch 3 (Mininet)",
            f"{flap.get('detected_s', float('nan')):.1f}",
            f"completed; controller loss while down {seen.get('loss_pct')} %; "
            f"trained again from epoch {back[0] if back else 'NEVER'}",
            10 - len(flap["epochs"]),
        )
    ]
    ctl_epochs = 9
    ctl = controller_restart(tmp / "ctl", epochs=ctl_epochs)
    stale = sorted({int(r["epoch"]) for r in ctl["node_epochs"] if r["metrics_stale"] == "True"})
    again = ctl["fresh_again_at"]
    rows.append(
        (
            f"controller stopped at epoch {ctl.get('stopped_epoch', 'NEVER')}, "
            f"restarted at epoch {ctl.get('started_epoch', 'NEVER')} (Mininet)",
            f"back in {ctl.get('restart_s', float('nan')):.1f}",
            f"completed on last-known figures (stale in epochs {stale}); fresh again from epoch "
            f"{again if again is not None else 'NEVER'}",
            ctl_epochs - len(ctl["epochs"]),
        )
    )
    return rows


def _api(tmp: Path):
    cfg = OrchestratorConfig(nodes=2, policy="ar", max_upload_mb=0.01)
    coord = Coordinator(cfg, Registry("s3cret"), Recorder(tmp / "api", {}, 0), "runtok")
    coord.publish_adapter(REF)
    coord.shares = {"n1": (4, 60), "n2": (4, 60)}  # what the uploads below say: the partitions handed out
    client = TestClient(create_app(coord))
    tokens = {
        n: client.post(
            "/v1/enroll", json={"node_id": n, "compute_power": 30}, headers={"Authorization": "Bearer runtok"}
        ).json()["node_token"]
        for n in ("n1", "n2")
    }
    return client, coord, tokens


def _upload(client, token, node, body, epoch=0):
    meta = json.dumps(
        {
            "node_id": node,
            "epoch": epoch,
            "version": 0,
            "train_time_s": 1.0,
            "compute_wall_s": 1.0,
            "download_s": 0.0,
            "loss": 2.0,
            "samples": 4,
            "tokens": 60,
        }
    )
    return client.post(
        "/v1/results",
        content=body,
        headers={
            "Authorization": f"Bearer {token}",
            "X-Node-Id": node,
            META_HEADER: meta,
            DIGEST_HEADER: sha256_hex(body),
        },
    )


def replay_row(tmp: Path) -> tuple:
    client, coord, tokens = _api(tmp)
    coord.open_round(Round(epoch=1, version=0, expected={"n1", "n2"}))
    body = tensors_to_bytes(GOOD)
    first = _upload(client, tokens["n1"], "n1", body, epoch=1).status_code
    again = [_upload(client, tokens["n1"], "n1", body, epoch=1).status_code for _ in range(3)]  # duplicate / replay
    late = _upload(client, tokens["n2"], "n2", body, epoch=0).status_code  # the previous epoch's
    ok = first == 200 and set(again) == {409} and late == 409 and len(coord.round.results) == 1
    return (
        "duplicate, replayed (x3) and late (previous epoch) uploads",
        "at once",
        f"{first} then {sorted(set(again))} and {late}; aggregated once: {'yes' if ok else 'NO'}",
        0,
    )


def bad_inputs(tmp: Path) -> tuple[int, int, list[str]]:
    """(tried, clean, failures): uploads to a live API, then configs to the loader."""
    client, coord, tokens = _api(tmp)
    tried, clean, bad = 0, 0, []
    for i, (name, make) in enumerate(BAD_UPLOADS.items()):
        coord.open_round(Round(epoch=i, version=0, expected={"n1"}))
        r = _upload(client, tokens["n1"], "n1", make(), epoch=i)
        tried += 1
        if 400 <= r.status_code < 500 and r.json().get("detail"):
            clean += 1
        else:
            bad.append(f"upload {name}: {r.status_code}")
    for name, (data, field) in BAD_CONFIGS.items():
        tried += 1
        try:
            build(OrchestratorConfig, data, {})
            bad.append(f"config {name}: accepted")
        except ConfigError as exc:
            msg = str(exc)
            clean += field in msg and "\n" not in msg
            if field not in msg:
                bad.append(f"config {name}: {msg}")
    return tried, clean, bad


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rounds", type=int, default=10, help="frozen/killed client rounds")
    p.add_argument("--out", default=None, help="keep the run folders here (default: a temporary folder)")
    a = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory() as t:
        tmp = Path(a.out or t)
        rows = client_rows(tmp, a.rounds) + [resume_row(tmp), replay_row(tmp)] + mininet_rows(tmp)
        print(table(rows))
        tried, clean, bad = bad_inputs(tmp)
    print(
        f"\nbad inputs: {tried} tried, {clean} got a clean 4xx or a one-line error naming the field"
        + (f"; not clean: {bad}" if bad else "")
    )
    return 0 if clean == tried else 1


if __name__ == "__main__":
    sys.exit(main())
