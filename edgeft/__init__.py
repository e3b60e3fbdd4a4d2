"""edgeft: SDN-assisted federated LoRA fine-tuning at the network edge.

This package is the shared layer at the bottom (docs/architecture.md): what both sides
of the orchestrator/edge-client wire need (message schemas, tensor (de)serialisation,
the network figures, the clock, the model and data factory, the config-file reader,
signal handling). It imports no component; the `edgeft` command line lives on top, in
experiments/cli.py.
"""

__version__ = "0.1.0"
