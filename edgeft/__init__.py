"""edgeft: SDN-assisted federated LoRA fine-tuning at the network edge.

This package holds what both sides of the orchestrator/edge-client wire need
(message schemas, tensor (de)serialisation, the model and data factory) and the
`edgeft` command line.
"""

__version__ = "0.1.0"
