"""The orchestrator: node registry, network view, scoring, elimination, aggregation, the epoch loop."""
