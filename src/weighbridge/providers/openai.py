"""Any OpenAI-compatible chat-completions endpoint: OpenAI, xAI, DeepSeek, Mistral, Groq,
Together, OpenRouter, vLLM, Ollama, llama.cpp's server, TGI.

The translation functions are pure: request -> body, body -> completion, event -> chunk;
those of ``/images/generations`` are in :mod:`weighbridge.providers.openai_images`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import Any

import httpx

from weighbridge.capabilities import Capabilities
from weighbridge.errors import ProviderError
from weighbridge.providers import openai_images
from weighbridge.providers.http import event_json, post_json, post_sse
from weighbridge.providers.sse import Event
from weighbridge.targets import Target
from weighbridge.types import (
    ChatRequest,
    Completion,
    EmbeddingRequest,
    Embeddings,
    FinishReason,
    ImageRequest,
    Images,
    StreamChunk,
    TextCompletion,
    TextRequest,
    TokenLogprobs,
    ToolCall,
    ToolCallDelta,
    Usage,
)

_FINISH: dict[str, FinishReason] = {
    "stop": "stop",
    "length": "length",
    "tool_calls": "tool_calls",
    "function_call": "tool_calls",
    "content_filter": "content_filter",
    "eos": "stop",
}


def request_body(
    request: ChatRequest, upstream: str, *, stream: bool, max_tokens_field: str
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": upstream,
        "messages": [m.model_dump(exclude_none=True) for m in request.messages],
    }
    for name in ("temperature", "top_p", "stop", "seed", "tools", "tool_choice"):
        value = getattr(request, name)
        if value is not None:
            body[name] = value
    if request.max_tokens is not None:
        body[max_tokens_field] = request.max_tokens
    if request.response_format is not None:
        body["response_format"] = request.response_format.model_dump(exclude_none=True)
    if stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    return body


def completion_from_body(data: dict[str, Any]) -> Completion:
    choices = data.get("choices") or []
    if not choices:
        raise ProviderError("upstream", "answered with no choices")
    choice = choices[0]
    message = choice.get("message") or {}
    return Completion(
        content=message.get("content") or "",
        tool_calls=[
            ToolCall(
                id=call.get("id", ""),
                name=call["function"]["name"],
                arguments=call["function"].get("arguments") or "",
            )
            for call in message.get("tool_calls") or []
        ],
        finish_reason=_FINISH.get(choice.get("finish_reason") or ""),
        usage=usage_from_body(data.get("usage")) or Usage(),
        upstream_model=data.get("model"),
    )


def chunk_from_event(data: dict[str, Any]) -> StreamChunk | None:
    """A chunk from one ``chat.completion.chunk``, or None when it carries nothing."""
    usage = usage_from_body(data.get("usage"))
    text, calls, finish = "", [], None
    for choice in data.get("choices") or []:
        delta = choice.get("delta") or {}
        text += delta.get("content") or ""
        for call in delta.get("tool_calls") or []:
            function = call.get("function") or {}
            calls.append(
                ToolCallDelta(
                    index=call.get("index", 0),
                    id=call.get("id"),
                    name=function.get("name"),
                    arguments=function.get("arguments") or "",
                )
            )
        finish = _FINISH.get(choice.get("finish_reason") or "", finish)
    if not (text or calls or finish or usage):
        return None
    return StreamChunk(
        text=text,
        tool_calls=calls,
        finish_reason=finish,
        usage=usage,
        upstream_model=data.get("model"),
    )


def text_request_body(request: TextRequest, upstream: str) -> dict[str, Any]:
    body = request.model_dump(exclude_none=True, exclude={"model", "echo"})
    if request.echo:
        body["echo"] = True
    return {"model": upstream, **body}


def text_completion_from_body(data: dict[str, Any]) -> TextCompletion:
    choices = data.get("choices") or []
    if not choices:
        raise ProviderError("upstream", "answered with no choices")
    choice = choices[0]
    logprobs = choice.get("logprobs")
    return TextCompletion(
        text=choice.get("text") or "",
        logprobs=TokenLogprobs.model_validate(logprobs) if logprobs else None,
        finish_reason=_FINISH.get(choice.get("finish_reason") or ""),
        usage=usage_from_body(data.get("usage")) or Usage(),
        upstream_model=data.get("model"),
    )


def embeddings_from_body(data: dict[str, Any]) -> Embeddings:
    items = sorted(data.get("data") or [], key=lambda item: item.get("index", 0))
    return Embeddings(
        vectors=[item["embedding"] for item in items],
        usage=usage_from_body(data.get("usage")) or Usage(),
        upstream_model=data.get("model"),
    )


def usage_from_body(usage: dict[str, Any] | None) -> Usage | None:
    if not usage:
        return None
    details = usage.get("prompt_tokens_details") or {}
    return Usage(
        prompt_tokens=usage.get("prompt_tokens") or 0,
        completion_tokens=usage.get("completion_tokens") or 0,
        cached_tokens=details.get("cached_tokens") or 0,
    )


class OpenAIProvider:
    capabilities = Capabilities(
        weights="remote", operations=frozenset({"chat", "text", "logprobs", "embeddings", "images"})
    )

    def __init__(self, http: httpx.AsyncClient) -> None:
        self._http = http

    def _call(self, target: Target, path: str = "/chat/completions") -> tuple[str, dict[str, str]]:
        assert target.provider.base_url is not None
        headers = dict(target.provider.headers)
        if target.api_key:
            headers["Authorization"] = f"Bearer {target.api_key}"
        return target.provider.base_url.rstrip("/") + path, headers

    async def _post(self, target: Target, path: str, body: dict[str, Any]) -> dict[str, Any]:
        url, headers = self._call(target, path)
        return await post_json(
            self._http, target.provider_name, url, body, headers=headers, timeout=target.provider.timeout_s
        )

    async def complete(self, target: Target, request: ChatRequest) -> Completion:
        body = request_body(
            request, target.upstream, stream=False, max_tokens_field=target.provider.max_tokens_field
        )
        return completion_from_body(await self._post(target, "/chat/completions", body))

    async def complete_text(self, target: Target, request: TextRequest) -> TextCompletion:
        body = text_request_body(request, target.upstream)
        return text_completion_from_body(await self._post(target, "/completions", body))

    async def embed(self, target: Target, request: EmbeddingRequest) -> Embeddings:
        body: dict[str, Any] = {"model": target.upstream, "input": request.input, "encoding_format": "float"}
        if request.dimensions is not None:
            body["dimensions"] = request.dimensions
        return embeddings_from_body(await self._post(target, "/embeddings", body))

    async def generate_images(self, target: Target, request: ImageRequest) -> Images:
        assert target.provider.base_url is not None
        openai = openai_images.is_openai(target.provider.base_url)
        body = openai_images.request_body(request, target.upstream, openai=openai)
        answer = await self._post(target, "/images/generations", body)
        return openai_images.images_from_body(target.provider_name, answer, request)

    async def stream(self, target: Target, request: ChatRequest) -> AsyncIterator[StreamChunk]:
        url, headers = self._call(target)
        body = request_body(
            request, target.upstream, stream=True, max_tokens_field=target.provider.max_tokens_field
        )
        events = post_sse(
            self._http, target.provider_name, url, body, headers=headers, timeout=target.provider.timeout_s
        )
        async with aclosing(events):
            async for chunk in self._chunks(target, events):
                yield chunk

    async def _chunks(self, target: Target, events: AsyncIterator[Event]) -> AsyncIterator[StreamChunk]:
        async for event in events:
            if event.data.strip() == "[DONE]":
                return
            data = event_json(target.provider_name, event)
            if "error" in data:
                error = data["error"] if isinstance(data["error"], dict) else {"message": data["error"]}
                raise ProviderError(
                    target.provider_name,
                    str(error.get("message", "error in stream")),
                    error_type=error.get("type"),
                )
            chunk = chunk_from_event(data)
            if chunk is not None:
                yield chunk
        raise ProviderError(target.provider_name, "stream ended without [DONE]")

    async def aclose(self) -> None:
        return None
