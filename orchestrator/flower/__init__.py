"""edgeft's node selection as a Flower strategy (docs/flower.md).

`selection` and `records` are plain edgeft (no Flower import, unit-tested in the main
venv); `strategy`, `identify` and `server_app` need flwr (the Flower venv):

    from orchestrator.flower.strategy import NetworkAwareFedAvg
"""
