"""The old name of controller_app/config.py (the controller's settings), kept importable
until every importer names `controller_app.config` (#27: one module name per idea, as
orchestrator/config.py and edge_client/config.py)."""

from controller_app.config import ENV, SINGLE_VARS, ControllerSettings, from_env, to_env

__all__ = ["ENV", "SINGLE_VARS", "ControllerSettings", "from_env", "to_env"]
