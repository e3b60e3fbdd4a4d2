"""edgeft's node selection as a Flower strategy (docs/flower.md): drivers of the epoch core
(orchestrator/epoch_core.py) on Flower's Deployment Engine.

`node_book` and `records` are plain edgeft (no Flower import, unit-tested in the main
venv); `network_aware_fedavg`, `identify` and `server_run` (the body of edgeft's ServerApp,
experiments/flower_app) need flwr (the Flower venv):

    from orchestrator.flower.network_aware_fedavg import NetworkAwareFedAvg
"""
