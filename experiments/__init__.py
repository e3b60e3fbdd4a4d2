"""Experiment launchers: local mode, (later) the Mininet NE-vs-AR runner, benchmarks."""
