"""A real federated run inside Mininet: the orchestrator in the server host,
one LoRA client per edge host, traffic through shaped links."""

import csv
import json

from topologies.edge_cloud import SERVER_IP, build, node_ip
from experiments.launcher import ProcessGroup
from topologies.profiles import as_metrics_table, draw_profiles

NODES = 4


def test_orchestrator_and_clients_run_in_hosts_and_stop_cleanly(clean_system, tmp_path):
    profiles = draw_profiles(NODES, setup=3, seed=0)
    (tmp_path / "metrics.json").write_text(json.dumps(as_metrics_table(profiles)))
    cfg = {
        "nodes": NODES,
        "policy": "ar",
        "host": "0.0.0.0",
        "port": 8700,
        "token": "mn-token",
        "out_dir": str(tmp_path / "run"),
        "training": {"epochs": 2},
        "metrics": {"static_file": str(tmp_path / "metrics.json")},
    }
    (tmp_path / "cfg.json").write_text(json.dumps(cfg))
    edge = build(profiles, controller=None, run_dir=tmp_path / "net")
    procs = ProcessGroup(tmp_path / "logs")
    try:
        procs.start("orchestrator", ["orchestrator", "--config", str(tmp_path / "cfg.json")], host=edge.server)
        for p in profiles:
            procs.start(
                p.node_id,
                [
                    "edge",
                    "--orchestrator",
                    f"http://{SERVER_IP}:8700",
                    "--token",
                    "mn-token",
                    "--node-id",
                    p.node_id,
                    "--compute-power",
                    str(p.compute_power),
                    "--emulate-compute",
                ],
                host=edge.hosts[p.node_id],
            )
        rc = procs.wait("orchestrator", 400)
        assert rc == 0, (tmp_path / "logs" / "orchestrator.log").read_text()[-3000:]
    finally:
        procs.stop_all()
        edge.stop()
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["final_val_loss"] < summary["pre_training_loss"] and summary["failed"] == 0
    with (tmp_path / "run" / "nodes.csv").open() as fh:
        nodes = list(csv.DictReader(fh))
    assert {n["ip"] for n in nodes} == {
        node_ip(i) for i in range(1, NODES + 1)
    }  # the requests really came through the hosts
    assert all(n["final_digest_matches"] == "True" for n in nodes)
    for p in profiles:
        assert (tmp_path / "logs" / f"{p.node_id}.log").read_text().count("task=train") == 2
