"""The typed shape of a prompt set once loaded: checks, cases and the set around them.

Loading (:mod:`weighbridge.compare.promptset`) turns each file format into these, so the
runner, the scorers and the reports never see a file format. Everything is plain data that
round-trips through JSON: a stored run keeps its cases, and ``weighbridge show`` rebuilds its
views from them without the original file.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from weighbridge.compare.check_types import compares_with_text, known_types, validate_check

#: promptfoo's names for the same checks, accepted so its files load unchanged.
ALIASES = {
    "llm-rubric": "judge",
    "normalized-match": "normalised-match",
    "f1": "token-f1",
    "is-valid-json": "is-json",
}


class Check(BaseModel):
    """One assertion on an answer (promptfoo's ``assert`` entry).

    ``value`` is what the check compares with (text, a pattern, a schema, a rubric, a
    ``file.py:function``); ``threshold`` is the least passing score for scored checks and the
    most allowed for ``latency`` (seconds) and ``cost`` (USD).
    """

    model_config = ConfigDict(extra="forbid")

    type: str
    value: Any = None
    threshold: float | None = None
    weight: float = Field(default=1.0, ge=0)
    #: The model that judges (``judge``, ``pairwise``); promptfoo calls it ``provider``.
    model: str | None = None
    provider: str | None = None
    #: The judge's answer budget (``judge``, ``pairwise``); a reasoning model needs more.
    max_tokens: int | None = Field(default=None, ge=1)
    #: Absolute tolerance of ``numeric-match``.
    tolerance: float | None = Field(default=None, ge=0)
    #: A name for the check in reports (promptfoo's ``metric``).
    metric: str | None = None

    @field_validator("type")
    @classmethod
    def _known_type(cls, value: str) -> str:
        name = ALIASES.get(value, value)
        if name not in known_types():
            raise ValueError(f"unknown check type '{value}' (known: {', '.join(sorted(known_types()))})")
        return name

    @model_validator(mode="after")
    def _value_fits_type(self) -> Check:
        if self.provider is not None:
            if self.model is not None and self.model != self.provider:
                raise ValueError("give the judge as 'model' or 'provider', not both")
            self.model, self.provider = self.provider, None
        validate_check(self)
        return self

    @property
    def label(self) -> str:
        return self.metric or self.type


class Drawing(BaseModel):
    """What one prompt asks of an image model besides itself, over the run's own options (the
    command line's): a subject that needs a wide picture, a seed that drew it well, more steps
    for detail. The names are :class:`~weighbridge.types.ImageRequest`'s, whose rules check the
    values when the request is made, so a case is held to the same limits as the command line."""

    model_config = ConfigDict(extra="forbid")

    size: str | None = None
    seed: int | None = None
    steps: int | None = None
    negative_prompt: str | None = None
    #: Pictures per model and sample (``--pictures`` on the command line).
    n: int | None = None

    def given(self) -> dict[str, Any]:
        """The options given, by their request names; a prompt-file test, which is a Drawing with
        more fields, gives only these."""
        return self.model_dump(include=set(Drawing.model_fields), exclude_none=True)


class Case(BaseModel):
    """One prompt, rendered: the messages to send and what to check the answers against."""

    model_config = ConfigDict(extra="forbid")

    id: str
    messages: list[dict[str, Any]] = Field(min_length=1)
    system: str | None = None
    vars: dict[str, Any] = Field(default_factory=dict)
    reference: Any = None
    checks: list[Check] = Field(default_factory=list)
    description: str | None = None
    #: The case's own image options; None: the run's alone. A chat run refuses them.
    drawing: Drawing | None = None

    @model_validator(mode="after")
    def _targets_known(self) -> Case:
        for check in self.checks:
            if check.value is None and self.reference is None and compares_with_text(check.type):
                raise ValueError(f"a '{check.type}' check needs a 'value' (or the test a 'reference')")
        return self

    def prompt_text(self) -> str:
        """The last user turn, which is what a person reading a report wants to see."""
        for message in reversed(self.messages):
            if message.get("role") == "user" and isinstance(message.get("content"), str):
                return str(message["content"])
        return str(self.messages[-1].get("content", ""))


class Options(BaseModel):
    """Sampling parameters a prompt set asks for; command-line flags override them."""

    model_config = ConfigDict(extra="forbid")

    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, gt=0, le=1)
    max_tokens: int | None = Field(default=None, ge=1)
    seed: int | None = None
    stop: list[str] | None = None

    def params(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True)


class PromptSet(BaseModel):
    """A loaded prompt set: its cases, and the models and options the file names."""

    model_config = ConfigDict(extra="forbid")

    source: str
    description: str | None = None
    #: What the set measures, so its scores are evidence for that task (``weighbridge
    #: evidence``) whatever the file is called; None: the file's name without its extension.
    task: str | None = Field(default=None, min_length=1)
    models: list[str] = Field(default_factory=list)
    system: str | None = None
    options: Options = Field(default_factory=Options)
    cases: list[Case]
