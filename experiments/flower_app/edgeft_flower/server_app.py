"""The ServerApp: edgeft's set-up and NetworkAwareFedAvg (orchestrator/flower)."""

import logging

from flwr.app import Context
from flwr.serverapp import Grid, ServerApp

from orchestrator.flower.server_run import serve

app = ServerApp()


@app.main()
def main(grid: Grid, context: Context) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    summary = serve(grid, dict(context.run_config))
    logging.getLogger("edgeft.flower").info("run summary: %s", summary)
