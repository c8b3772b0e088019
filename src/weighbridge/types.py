"""The one language spoken above the providers: chat requests, responses, stream chunks, usage.

Semantics are OpenAI chat-completions semantics (roles, sampling parameters, tools in the
``{"type": "function", "function": {...}}`` shape), because that is what most tools speak;
each provider translates to and from its own wire format in pure functions.
"""

from __future__ import annotations

import hashlib
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

Role = Literal["system", "developer", "user", "assistant", "tool"]
FinishReason = Literal["stop", "length", "tool_calls", "content_filter", "error"]


class Message(BaseModel):
    """One chat turn. ``content`` is text or a list of OpenAI content parts."""

    model_config = ConfigDict(extra="forbid")

    role: Role
    content: str | list[dict[str, Any]] | None = None
    name: str | None = None
    tool_calls: list[dict[str, Any]] | None = None
    tool_call_id: str | None = None

    def text(self) -> str:
        """The message's text, with non-text parts left out."""
        if self.content is None:
            return ""
        if isinstance(self.content, str):
            return self.content
        return "".join(p.get("text", "") for p in self.content if p.get("type") == "text")


class ResponseFormat(BaseModel):
    """``{"type": "json_object"}`` or ``{"type": "json_schema", "json_schema": {...}}``."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["text", "json_object", "json_schema"]
    json_schema: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _schema_present(self) -> ResponseFormat:
        if self.type == "json_schema" and not (self.json_schema and "schema" in self.json_schema):
            raise ValueError("response_format json_schema needs json_schema.schema")
        return self

    def schema_(self) -> dict[str, Any] | None:
        """The JSON schema to constrain output to, if one was given."""
        return self.json_schema.get("schema") if self.json_schema else None


class ChatRequest(BaseModel):
    """A chat request, validated before any provider sees it."""

    model_config = ConfigDict(extra="forbid")

    model: str
    messages: list[Message] = Field(min_length=1)
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, gt=0, le=1)
    max_tokens: int | None = Field(default=None, ge=1)
    stop: list[str] | None = None
    seed: int | None = None
    response_format: ResponseFormat | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None
    #: What the request is for (``extraction``, ``support``...): an auto route chooses its
    #: target on the evidence for this task. Never sent to a provider.
    task: str | None = Field(default=None, min_length=1, max_length=200)

    @field_validator("stop", mode="before")
    @classmethod
    def _stop_as_list(cls, value: object) -> object:
        return [value] if isinstance(value, str) else value

    @field_validator("messages", mode="before")
    @classmethod
    def _messages_from_text(cls, value: object) -> object:
        return [{"role": "user", "content": value}] if isinstance(value, str) else value

    def system_text(self) -> str | None:
        """System and developer turns joined, for protocols that take the system prompt apart."""
        parts = [m.text() for m in self.messages if m.role in ("system", "developer")]
        return "\n\n".join(parts) if parts else None


class Usage(BaseModel):
    """Token counts as the provider reported them (or as the local tokenizer counted them)."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    #: Of the prompt tokens, those the provider took from its prompt cache instead of computing
    #: (a local engine's shared system prompt, an API's cached prefix).
    cached_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


class ToolCall(BaseModel):
    """A complete tool call, arguments as the JSON text the model produced."""

    id: str
    name: str
    arguments: str = ""

    def openai(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": "function",
            "function": {"name": self.name, "arguments": self.arguments},
        }


class ToolCallDelta(BaseModel):
    """A fragment of a tool call in a stream; fragments with the same index add up."""

    index: int
    id: str | None = None
    name: str | None = None
    arguments: str = ""


class StreamChunk(BaseModel):
    """One piece of a streamed answer. Usage and upstream model usually come at the end."""

    text: str = ""
    tool_calls: list[ToolCallDelta] = Field(default_factory=list)
    finish_reason: FinishReason | None = None
    usage: Usage | None = None
    upstream_model: str | None = None


class Completion(BaseModel):
    """What a provider returns for a whole call."""

    content: str = ""
    tool_calls: list[ToolCall] = Field(default_factory=list)
    finish_reason: FinishReason | None = None
    usage: Usage = Field(default_factory=Usage)
    upstream_model: str | None = None


class Metered(BaseModel):
    """What weighbridge measured and logged around any answer: chat, text or embeddings."""

    id: str
    model: str
    provider: str
    latency_s: float
    ttft_s: float | None = None
    cost_usd: float | None = None
    cost_basis: str | None = None
    weight_sha256: str | None = None
    #: The route the caller named, and why this model answered it.
    route: str | None = None
    route_reason: str | None = None


class ChatResponse(Completion, Metered):
    """A chat completion with what weighbridge measured around it."""

    @property
    def tokens_per_s(self) -> float | None:
        """Decode speed: completion tokens over the time after the first token."""
        decode = self.latency_s - (self.ttft_s or 0.0)
        if self.usage.completion_tokens < 2 or decode <= 0:
            return None
        return (self.usage.completion_tokens - 1) / decode


class TextRequest(BaseModel):
    """A raw-text completion (OpenAI's legacy ``/v1/completions``): no chat template, and
    optionally the log-probabilities of the prompt's own tokens (``echo`` with ``logprobs``),
    which is how log-likelihood evaluations score multiple-choice answers."""

    model_config = ConfigDict(extra="forbid")

    model: str
    #: Text, or token ids of the model's own tokenizer (what evaluation harnesses send).
    prompt: str | list[int] = Field(min_length=1)
    max_tokens: int = Field(default=16, ge=0)
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, gt=0, le=1)
    stop: list[str] | None = None
    seed: int | None = None
    #: How many most likely alternatives to report per token (OpenAI allows up to 5).
    logprobs: int | None = Field(default=None, ge=0, le=20)
    echo: bool = False

    @field_validator("stop", mode="before")
    @classmethod
    def _stop_as_list(cls, value: object) -> object:
        return [value] if isinstance(value, str) else value


class TokenLogprobs(BaseModel):
    """Per-token log-probabilities in OpenAI's completions shape; the first token of an
    echoed prompt has none (nothing precedes it)."""

    tokens: list[str]
    token_logprobs: list[float | None]
    top_logprobs: list[dict[str, float] | None]
    text_offset: list[int]


class TextCompletion(BaseModel):
    """What a provider returns for a text completion."""

    text: str = ""
    logprobs: TokenLogprobs | None = None
    finish_reason: FinishReason | None = None
    usage: Usage = Field(default_factory=Usage)
    upstream_model: str | None = None


class TextResponse(TextCompletion, Metered):
    """A text completion with what weighbridge measured around it."""


class ScoreRequest(BaseModel):
    """Continuations of one prompt, each to be scored by how likely the model finds it there:
    the question and the choices of a log-likelihood evaluation. Asked in one call, so that
    the provider evaluates the prompt once for every continuation (as token ids of the
    model's own tokenizer, split the way the evaluation splits them)."""

    model_config = ConfigDict(extra="forbid")

    model: str
    prompt: list[int] = Field(min_length=1)
    continuations: list[Annotated[list[int], Field(min_length=1)]] = Field(min_length=1)


class ContinuationScore(BaseModel):
    """One continuation's log-likelihood: the sum of its tokens' log-probabilities, each given
    everything before it, and whether each was the model's most likely token there (what
    lm-evaluation-harness calls ``is_greedy``)."""

    model_config = ConfigDict(frozen=True)

    logprob: float
    greedy: bool


class Scores(BaseModel):
    """What a provider returns for a :class:`ScoreRequest`: a score per continuation, in order."""

    scores: list[ContinuationScore]
    usage: Usage = Field(default_factory=Usage)
    upstream_model: str | None = None


class ScoreResponse(Scores, Metered):
    """Scores with what weighbridge measured around them."""


class EmbeddingRequest(BaseModel):
    """Texts (or token-id lists) to turn into vectors."""

    model_config = ConfigDict(extra="forbid")

    model: str
    #: Each text or token list non-empty: an empty one has no vector (llama.cpp fails on it,
    #: OpenAI refuses it).
    input: list[Annotated[str, Field(min_length=1)]] | list[Annotated[list[int], Field(min_length=1)]] = (
        Field(min_length=1)
    )
    dimensions: int | None = Field(default=None, ge=1)

    @field_validator("input", mode="before")
    @classmethod
    def _input_as_list(cls, value: object) -> object:
        if isinstance(value, str):
            return [value]
        if isinstance(value, list) and value and all(isinstance(v, int) for v in value):
            return [value]
        return value


class Embeddings(BaseModel):
    """One vector per input, in input order."""

    vectors: list[list[float]]
    usage: Usage = Field(default_factory=Usage)
    upstream_model: str | None = None


class EmbeddingResponse(Embeddings, Metered):
    """Embeddings with what weighbridge measured around them."""


ImageFormat = Literal["png", "jpeg", "webp"]
#: OpenAI's ``quality`` values: ``low``/``medium``/``high`` (gpt-image-1), ``standard``/``hd``
#: (dall-e-3), ``auto``. A local pipeline reads them as a number of denoising steps.
ImageQuality = Literal["low", "medium", "high", "standard", "hd", "auto"]


class ImageRequest(BaseModel):
    """Pictures from a prompt, in the OpenAI Images API's terms; ``seed``, ``steps``,
    ``negative_prompt`` and ``guidance`` are what open pipelines take besides (and what an API
    that has no such knob refuses, never ignores)."""

    model_config = ConfigDict(extra="forbid")

    model: str
    prompt: str = Field(min_length=1, max_length=32000)
    n: int = Field(default=1, ge=1, le=10)
    #: ``WIDTHxHEIGHT`` or ``auto``; None: the model's default.
    size: str | None = Field(default=None, pattern=r"^(auto|[1-9][0-9]{1,4}x[1-9][0-9]{1,4})$")
    quality: ImageQuality | None = None
    output_format: ImageFormat = "png"
    seed: int | None = Field(default=None, ge=0, lt=2**32)
    steps: int | None = Field(default=None, ge=1, le=500)
    negative_prompt: str | None = None
    guidance: float | None = Field(default=None, ge=0, le=50)

    def dimensions(self) -> tuple[int, int] | None:
        """(width, height) asked for; None for the model's default."""
        if self.size is None or self.size == "auto":
            return None
        width, height = self.size.split("x")
        return int(width), int(height)


class GeneratedImage(BaseModel):
    """One picture: its encoded bytes (``format``), and the prompt the service actually used
    where it rewrote it (dall-e-3 does)."""

    data: bytes
    format: ImageFormat = "png"
    revised_prompt: str | None = None

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


class Images(BaseModel):
    """What a provider returns for an image request: the pictures, in order."""

    images: list[GeneratedImage]
    usage: Usage = Field(default_factory=Usage)
    upstream_model: str | None = None
    #: What the pictures were made with, where the backend says (a local pipeline always does):
    #: the same seed, steps and size give the same pictures again.
    seed: int | None = None
    steps: int | None = None
    size: str | None = None


class ImageResponse(Images, Metered):
    """Images with what weighbridge measured around them."""


def validation_message(exc: ValidationError) -> str:
    """The first problem pydantic found, as one line naming the field."""
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"])
    return f"{where}: {err['msg']}" if where else str(err["msg"])
