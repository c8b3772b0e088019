"""OpenAI's text-completions and embeddings wire formats, and vLLM's tokenizer routes: pure
functions.

These are what evaluation harnesses speak: lm-evaluation-harness's ``local-completions`` sends
token ids as ``prompt`` with ``echo`` and ``logprobs`` to score answers, and asks the server to
tokenize (``/tokenize``, ``/detokenize``, ``/tokenizer_info``, as vLLM serves them) so its
context lengths count the model's own tokens.
"""

from __future__ import annotations

import base64
import struct
import time
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from weighbridge.errors import InvalidRequestError
from weighbridge.server.openai_wire import usage_json
from weighbridge.types import (
    EmbeddingRequest,
    EmbeddingResponse,
    TextRequest,
    TextResponse,
    Usage,
    validation_message,
)

Prompt = str | list[str] | list[int] | list[list[int]]
M = TypeVar("M", bound=BaseModel)


class CompletionBody(BaseModel):
    """What ``POST /v1/completions`` accepts. Fields that would change the answer and that we
    cannot honour are refused, never silently dropped."""

    model_config = ConfigDict(extra="ignore")

    model: str
    prompt: Prompt
    max_tokens: int | None = 16
    temperature: float | None = None
    top_p: float | None = None
    stop: str | list[str] | None = None
    seed: int | None = None
    logprobs: int | None = None
    echo: bool = False
    n: int = 1
    best_of: int | None = None
    stream: bool = False
    suffix: str | None = None
    logit_bias: dict[str, float] | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None


def parse_completion_body(data: object) -> tuple[CompletionBody, list[TextRequest]]:
    """The request as sent, and one core request per prompt (a batch answers in order)."""
    body = _validated(CompletionBody, data)
    refused = {
        "n must be 1": body.n != 1,
        "best_of must be 1": body.best_of not in (None, 1),
        "stream is not offered on /v1/completions; stream with /v1/chat/completions": body.stream,
        "suffix (fill-in-the-middle) is not supported": body.suffix,
        "logit_bias is not supported": body.logit_bias,
        "presence_penalty and frequency_penalty are not supported": body.presence_penalty
        or body.frequency_penalty,
    }
    for message, applies in refused.items():
        if applies:
            raise InvalidRequestError(message)
    fields = body.model_dump(include={"model", "temperature", "top_p", "stop", "seed", "logprobs", "echo"})
    fields["max_tokens"] = 16 if body.max_tokens is None else body.max_tokens
    return body, [_validated(TextRequest, {**fields, "prompt": p}) for p in _prompts(body.prompt)]


def completion_json(responses: list[TextResponse], model: str) -> dict[str, Any]:
    return {
        "id": "cmpl-" + responses[0].id.removeprefix("wb-"),
        "object": "text_completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": index,
                "text": response.text,
                "logprobs": response.logprobs.model_dump() if response.logprobs else None,
                "finish_reason": response.finish_reason or "stop",
            }
            for index, response in enumerate(responses)
        ],
        "usage": usage_json(
            Usage(
                prompt_tokens=sum(r.usage.prompt_tokens for r in responses),
                completion_tokens=sum(r.usage.completion_tokens for r in responses),
            )
        ),
    }


class EmbeddingsBody(BaseModel):
    """What ``POST /v1/embeddings`` accepts."""

    model_config = ConfigDict(extra="ignore")

    model: str
    input: Prompt
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: int | None = None


def parse_embeddings_body(data: object) -> tuple[EmbeddingsBody, EmbeddingRequest]:
    body = _validated(EmbeddingsBody, data)
    request = _validated(
        EmbeddingRequest, {"model": body.model, "input": _prompts(body.input), "dimensions": body.dimensions}
    )
    return body, request


def embeddings_json(response: EmbeddingResponse, body: EmbeddingsBody) -> dict[str, Any]:
    """Vectors as floats, or as base64 of little-endian float32 (what the openai SDK asks for
    by default, and decodes itself)."""

    def encoded(vector: list[float]) -> list[float] | str:
        if body.encoding_format == "float":
            return vector
        return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode("ascii")

    return {
        "object": "list",
        "data": [
            {"object": "embedding", "index": index, "embedding": encoded(vector)}
            for index, vector in enumerate(response.vectors)
        ],
        "model": body.model,
        "usage": {"prompt_tokens": (used := response.usage.prompt_tokens), "total_tokens": used},
    }


class TokenizeBody(BaseModel):
    """vLLM's ``POST /tokenize``; ``model`` may be left out, meaning the default model."""

    model_config = ConfigDict(extra="ignore")

    model: str | None = None
    prompt: str
    add_special_tokens: bool = True


class DetokenizeBody(BaseModel):
    model_config = ConfigDict(extra="ignore")

    model: str | None = None
    tokens: list[int] = Field(min_length=0)


def parse_tokenize_body(data: object) -> TokenizeBody:
    return _validated(TokenizeBody, data)


def parse_detokenize_body(data: object) -> DetokenizeBody:
    return _validated(DetokenizeBody, data)


def _prompts(prompt: Prompt) -> list[str] | list[list[int]]:
    if isinstance(prompt, str):
        return [prompt]
    if prompt and all(isinstance(p, int) for p in prompt):
        return [prompt]  # type: ignore[return-value]
    if not prompt:
        raise InvalidRequestError("prompt: must not be empty")
    return prompt  # type: ignore[return-value]


def _validated(model: type[M], data: object) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        where = exc.errors()[0]["loc"][:1]
        if where in (("prompt",), ("input",)) and isinstance(data, dict) and where[0] in data:
            if any(error["type"].endswith("too_short") for error in exc.errors()):
                raise InvalidRequestError(f"{where[0]}: must not be empty, nor hold an empty text") from None
            raise InvalidRequestError(f"{where[0]}: {_PROMPT_SHAPES}") from None
        raise InvalidRequestError(validation_message(exc)) from None


_PROMPT_SHAPES = "must be a string, a list of strings, a list of token ids, or a list of lists of token ids"
