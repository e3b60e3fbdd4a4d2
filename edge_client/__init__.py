"""The edge client: enrolment, task loop, LoRA training, compute emulation."""
