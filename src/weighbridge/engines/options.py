"""How local engines run on this machine: the ``[engine]`` section of the config, with
defaults taken from the machine, so the same code runs unchanged on a laptop and a GPU box.

    [engine]
    local = "llama-server"    # or "in-process": where `weighbridge serve` runs local models
    slots = 8                 # requests decoded together per model
    ctx_per_slot = 2048       # tokens of context each slot holds
    threads = 0               # 0: every core this process may use
    batch_size = 2048         # llama.cpp's logical batch (prompt tokens per step)
    gpu_layers = "auto"       # "auto" (what fits), "all", or a number; CPU-only builds use none
    idle_timeout_s = 600      # an engine nobody used for this long is stopped (0: never)
"""

from __future__ import annotations

import os
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


class EngineOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    local: Literal["llama-server", "in-process"] = "llama-server"
    slots: int = Field(default=8, ge=1, le=256)
    ctx_per_slot: int = Field(default=2048, ge=256)
    threads: int = Field(default=0, ge=0)
    batch_size: int = Field(default=2048, ge=32)
    gpu_layers: str = "auto"
    idle_timeout_s: float = Field(default=600, ge=0)

    @field_validator("gpu_layers", mode="before")
    @classmethod
    def _layers(cls, value: object) -> object:
        if isinstance(value, int) and value >= 0:
            return str(value)
        if value in ("auto", "all") or (isinstance(value, str) and value.isdigit()):
            return value
        raise ValueError("gpu_layers must be 'auto', 'all' or a number of layers")

    def cpu_threads(self) -> int:
        return self.threads or len(os.sched_getaffinity(0))

    def server_args(self) -> list[str]:
        """The llama-server flags these options stand for."""
        return [
            "--parallel", str(self.slots),
            "--ctx-size", str(self.slots * self.ctx_per_slot),
            "--cont-batching",
            "--threads", str(self.cpu_threads()),
            "--threads-batch", str(self.cpu_threads()),
            "--batch-size", str(self.batch_size),
            "--n-gpu-layers", self.gpu_layers,
        ]  # fmt: skip
