"""The shape of a catalog entry: shared by the shipped catalog and the user's config."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from weighbridge.plugins import provider_types, unknown_type_message


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", protected_namespaces=())


class ProviderEntry(_Strict):
    """A named endpoint speaking one wire protocol. Keys live in the environment, never here."""

    #: A provider type from the registry (weighbridge.plugins): a built-in or a plugin's.
    type: str
    base_url: str | None = None
    api_key_env: str | None = None
    data_leaves_machine: bool = True
    verified: str | None = None
    docs: str | None = None
    timeout_s: float = Field(default=600.0, gt=0)
    headers: dict[str, str] = Field(default_factory=dict)
    #: OpenAI's reasoning models take ``max_completion_tokens``; most servers ``max_tokens``.
    max_tokens_field: Literal["max_tokens", "max_completion_tokens"] = "max_tokens"

    @field_validator("type")
    @classmethod
    def _installed(cls, value: str) -> str:
        if value not in provider_types():
            raise ValueError(unknown_type_message(value))
        return value


class License(_Strict):
    id: str
    name: str | None = None
    commercial_use: bool | None = None
    terms: str | None = None
    url: str | None = None


class ServeOption(_Strict):
    """One way to run a model: a provider plus the upstream model id, or local weights (a file
    or a checkpoint folder), optionally with a LoRA adapter folder loaded on top."""

    provider: str
    model: str | None = None
    file: str | None = None
    adapter: str | None = None

    @model_validator(mode="after")
    def _model_or_file(self) -> ServeOption:
        if (self.model is None) == (self.file is None):
            raise ValueError("a serve entry needs exactly one of 'model' or 'file'")
        if self.adapter is not None and self.file is None:
            raise ValueError("'adapter' goes with 'file': a LoRA adapter loads on local weights")
        return self


class Price(_Strict):
    input_per_mtok: float | None = Field(default=None, ge=0)
    output_per_mtok: float | None = Field(default=None, ge=0)
    cached_input_per_mtok: float | None = Field(default=None, ge=0)
    per_image_usd: float | None = Field(default=None, ge=0)
    #: Per image by ``WIDTHxHEIGHT`` or ``WIDTHxHEIGHT/quality`` (``1024x1536/high``), where a
    #: service prices sizes and qualities apart; ``per_image_usd`` is then the fallback.
    per_image: dict[str, float] = Field(default_factory=dict)
    provider: str | None = None
    as_of: str | None = None
    source: str | None = None

    @field_validator("per_image")
    @classmethod
    def _image_keys(cls, table: dict[str, float]) -> dict[str, float]:
        for key, usd in table.items():
            if not re.fullmatch(r"[1-9][0-9]*x[1-9][0-9]*(/[a-z]+)?", key) or usd < 0:
                raise ValueError(
                    f"per_image: '{key}' must be WIDTHxHEIGHT or WIDTHxHEIGHT/quality, priced >= 0"
                )
        return table


class Benchmark(_Strict):
    name: str
    score: float
    unit: str | None = None
    source: str
    notes: str | None = None
    #: The ``weighbridge eval`` task that measures the same thing, so the published figure is
    #: printed beside the measured one; unset where no task does (a different variant counts).
    task: str | None = None


class SamplingDefaults(_Strict):
    """What a request to the model gets where it says nothing itself: a chat model's sampling;
    an image model's steps, guidance and size, which a distilled model (SD-Turbo, FLUX.1
    [schnell]) needs far from its pipeline's own (one to four steps, no guidance)."""

    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, gt=0, le=1)
    max_tokens: int | None = Field(default=None, ge=1)
    steps: int | None = Field(default=None, ge=1, le=500)
    guidance: float | None = Field(default=None, ge=0, le=50)
    size: str | None = Field(default=None, pattern=r"^[1-9][0-9]{1,4}x[1-9][0-9]{1,4}$")

    #: The fields each modality's requests have.
    FOR: ClassVar[dict[str, frozenset[str]]] = {
        "chat": frozenset({"temperature", "top_p", "max_tokens"}),
        "image": frozenset({"steps", "guidance", "size"}),
        "embedding": frozenset(),
    }


class ModelEntry(_Strict):
    """One model a user can name. Only ``serve`` is needed to run it; the rest informs choices."""

    name: str | None = None
    vendor: str | None = None
    modality: Literal["chat", "image", "embedding"] = "chat"
    open_weights: bool | None = None
    parameters_b: float | None = Field(default=None, gt=0)
    active_parameters_b: float | None = Field(default=None, gt=0)
    context_tokens: int | None = Field(default=None, gt=0)
    max_output_tokens: int | None = Field(default=None, gt=0)
    released: str | None = None
    deprecated: str | None = None
    deprecation_source: str | None = None
    notes: str | None = None
    #: Used when a request brings no system prompt of its own (small models need one).
    system_prompt: str | None = None
    #: Request parameters used when the request does not set them (as an Ollama Modelfile's).
    defaults: SamplingDefaults | None = None
    license: License | None = None
    serve: list[ServeOption] = Field(default_factory=list)
    price: Price | None = None
    benchmarks: list[Benchmark] = Field(default_factory=list)

    @model_validator(mode="after")
    def _defaults_fit_the_modality(self) -> ModelEntry:
        """A default the model's requests have no field for would never be used: refused."""
        if self.defaults is not None:
            foreign = set(self.defaults.model_dump(exclude_none=True)) - SamplingDefaults.FOR[self.modality]
            if foreign:
                raise ValueError(
                    f"defaults {', '.join(sorted(foreign))}: not for a model of modality {self.modality}"
                )
        return self

    @field_validator("deprecated", mode="before")
    @classmethod
    def _a_date(cls, value: object) -> object:
        """A TOML date (unquoted) or an ISO date string, kept as the string. Checked here, so a
        mistyped date fails as the config loads rather than never warning
        (:mod:`weighbridge.catalog.retirement` reads it)."""
        if isinstance(value, date):  # a TOML date-time counts by its day
            return (value.date() if isinstance(value, datetime) else value).isoformat()
        if isinstance(value, str):
            try:
                date.fromisoformat(value)
            except ValueError:
                raise ValueError(f"'{value}' is not a date (YYYY-MM-DD)") from None
        return value


class SelfHosting(_Strict):
    """What an hour of the local machine costs, so local inference is never priced at zero."""

    usd_per_hour: float = Field(ge=0)
    #: The share of its hours the machine spends answering (0 < u <= 1). Idle hours are paid
    #: for too, so a machine busy half the time costs twice its hourly price per useful hour.
    utilisation: float = Field(default=1.0, gt=0, le=1)
    source: str | None = None
    as_of: str | None = None

    @property
    def usd_per_busy_hour(self) -> float:
        """The hourly price carried by the hours that do work: ``usd_per_hour / utilisation``."""
        return self.usd_per_hour / self.utilisation


class Catalog(_Strict):
    meta: dict[str, str] = Field(default_factory=dict)
    self_hosting: SelfHosting | None = None
    providers: dict[str, ProviderEntry] = Field(default_factory=dict)
    models: dict[str, ModelEntry] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _serve_names_known_providers(self) -> Catalog:
        for model_id, entry in self.models.items():
            for option in entry.serve:
                if option.provider not in self.providers:
                    raise ValueError(f"model '{model_id}' is served by unknown provider '{option.provider}'")
        return self
