"""The orchestrator's HTTP routes, one small router per concern; orchestrator/api.py
assembles them. Handlers are plain functions: the coordinator comes in as a
dependency (`deps.coordinator`), the authenticated node as another (`deps.node_auth`)."""
