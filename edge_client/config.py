"""The edge client's one validated config object."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class EdgeConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    orchestrator: str = Field(pattern=r"^https?://", description="orchestrator base URL, e.g. http://10.0.0.1:8700")
    token: str = Field(
        default="",
        max_length=256,
        description="this node's secret (its <id>.token from `edgeft provision`), or the run token of a trial "
        "without a credentials list; empty: read it from token_file",
    )
    token_file: str | None = Field(
        default=None, description="file (mode 0600) holding `token`: how launchers hand a secret over (clients.json)"
    )
    node_id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.\-]+$")
    compute_power: float = Field(default=30.0, gt=0)
    emulate_compute: bool = False
    device: str = "auto"
    threads: int = Field(default=1, ge=1, le=256)
    ip: str | None = None
    poll_wait_s: float = Field(default=20.0, gt=0, le=60)
    request_timeout_s: float = Field(default=120.0, gt=0)
    retry_for_s: float = Field(default=60.0, ge=0)
    ca_bundle: str | None = None
    model_path: str | None = Field(
        default=None,
        description=(
            "this node's own copy of the base model (a save_pretrained folder), used when the run's distribution is "
            "preinstalled; a packaged model (e.g. smollm2-135m) is found in the edgeft cache without it"
        ),
    )
    padding_mbps: float | None = Field(
        default=None,
        gt=0,
        description=(
            "cap on the rate of paper-volume padding transfers: a slow link on loopback, for tests "
            "(Mininet shapes real links)"
        ),
    )

    @model_validator(mode="after")
    def _secret(self) -> "EdgeConfig":
        """The secret comes from `token` or, when that is empty, from `token_file` (read once, here)."""
        if not self.token and self.token_file:
            from orchestrator.credentials import read_secret

            self.token = read_secret(self.token_file, "token_file")
        if not self.token:
            raise ValueError("give this node's secret: token_file (a 0600 file) or token")
        return self

    @field_validator("model_path")
    @classmethod
    def _model_path(cls, path: str | None) -> str | None:
        if path is not None and not Path(path).is_dir():
            raise ValueError(
                f"'{path}' is not a directory: give the folder (written by save_pretrained()) of this node's copy"
            )
        return path
