"""The ClientApp: edgeft's edge client (edge_client/flower_client.py)."""

from edge_client.flower_client import app

__all__ = ["app"]
