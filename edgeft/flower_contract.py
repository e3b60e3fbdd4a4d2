"""What edgeft's Flower strategy and a ClientApp say to each other (the Flower path,
docs/flower.md). Plain names, no Flower import: the strategy, the ClientApp and the
tests share them.

A user's own ClientApp works with the strategy when it answers `query.identify` and
reports the train metrics below; `train.sync` (parameters only) and `evaluate`
(the final parameters) are optional: without them the benched nodes do not get the
new parameters and the run's final digest check reads empty.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

# flower-supernode --node-config keys.
NODE_ID = "node-id"  # edgeft's name of the node (the key of a static metrics file)
NODE_IP = "ip"  # the address the SDN controller knows the node by
COMPUTE_POWER = "compute-power"  # the node's compute power C (edgeft/timemodel.py units)
MODEL_PATH = "model-path"  # this node's copy of the base (`save_pretrained` folder)
EMULATE_COMPUTE = "emulate-compute"  # true: the compute phase lasts the node's emulated window

# Message types (Flower's "<category>.<action>").
IDENTIFY = "query.identify"  # -> ConfigRecord "node" {node-id, ip}, MetricRecord "node-figures" {compute-power}
SETUP = "query.setup"  # edgeft's own ClientApp: LoRA settings, base digest and the node's data partition
TRAIN = "train"  # arrays "arrays" (+ config) -> arrays "update" or "arrays", MetricRecord "metrics"
SYNC = "train.sync"  # a benched node: the new parameters only -> ConfigRecord "held" {digest}
FINAL = "evaluate"  # every live node, after the last round: the final parameters -> ConfigRecord "held"

# Keys of a train reply's MetricRecord "metrics": what the policies need from a node.
TRAIN_TIME_S = "train-time-s"  # T_i, the epoch's compute time the node reports (its emulated window)
COMPUTE_WALL_S = "compute-wall-s"  # what the compute phase really lasted (fidelity: overruns)
TRAIN_LOSS = "train-loss"  # mean local training loss
NUM_EXAMPLES = "num-examples"  # samples trained on (Flower's FedAvg weighting key)
NUM_TOKENS = "num-tokens"  # label tokens of the node's data (edgeft's aggregation weight)
WORK_GFLOP = "work-gflop"  # the epoch's declared work (edgeft/timemodel.py)
REQUIRED_TRAIN_KEYS = (TRAIN_TIME_S, TRAIN_LOSS, NUM_EXAMPLES)

# Record names.
ARRAYS = "arrays"  # the global parameters the server sends
UPDATE = "update"  # edgeft's ClientApp replies with an update (theta_0 - theta_K); a plain one with "arrays"
METRICS = "metrics"
CONFIG = "config"
NODE = "node"
NODE_FIGURES = "node-figures"
HELD = "held"
DIGEST = "digest"


@dataclass(frozen=True)
class TrainReport:
    """One train reply's metrics, in the run's reported units."""

    train_time_s: float
    compute_wall_s: float
    loss: float
    samples: int
    tokens: int
    work_gflop: float
    finished_at: float  # when the node sent the reply (wall clock)

    @classmethod
    def parse(cls, metrics: Mapping[str, float], finished_at: float) -> "TrainReport":
        """From a reply's MetricRecord; a missing required key is a ValueError naming it."""
        missing = [k for k in REQUIRED_TRAIN_KEYS if k not in metrics]
        if missing:
            raise ValueError(
                f"train reply lacks MetricRecord key(s) {missing}: a ClientApp must report "
                f"{', '.join(REQUIRED_TRAIN_KEYS)} (docs/flower.md)"
            )
        t = float(metrics[TRAIN_TIME_S])
        return cls(
            train_time_s=t,
            compute_wall_s=float(metrics.get(COMPUTE_WALL_S, t)),
            loss=float(metrics[TRAIN_LOSS]),
            samples=int(metrics[NUM_EXAMPLES]),
            tokens=int(metrics.get(NUM_TOKENS, metrics[NUM_EXAMPLES])),
            work_gflop=float(metrics.get(WORK_GFLOP, float("nan"))),
            finished_at=finished_at,
        )
