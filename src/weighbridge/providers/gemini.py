"""Google's Gemini API: ``models/{model}:generateContent`` and ``:streamGenerateContent``.

The translation functions are pure: request -> body, body -> completion, stream chunk ->
chunk. The key travels in the ``x-goog-api-key`` header, never in the ``?key=`` query
parameter that Google's own examples use, because URLs end up in logs and error messages.

Gemini's stream has no terminator event: every SSE ``data:`` is a whole
GenerateContentResponse, and the answer is complete once a chunk has carried a
``finishReason``. Older models put ``finishReason`` on every chunk, so the stream is read to
its end rather than stopped at the first one.

Pictures (Gemini's image output, and Imagen's ``:predict``) are translated in
:mod:`weighbridge.providers.gemini_images`.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import Any

import httpx

from weighbridge.capabilities import Capabilities
from weighbridge.errors import InvalidRequestError, ProviderError
from weighbridge.providers.gemini_images import (
    combined,
    generate_content_body,
    images_from_content,
    images_from_predictions,
    is_imagen,
    predict_body,
)
from weighbridge.providers.http import event_json, post_json, post_sse
from weighbridge.providers.images import gather_all
from weighbridge.providers.tools import chosen_function, function_of, parse_arguments
from weighbridge.targets import Target
from weighbridge.types import (
    ChatRequest,
    Completion,
    FinishReason,
    ImageRequest,
    Images,
    Message,
    StreamChunk,
    ToolCall,
    ToolCallDelta,
    Usage,
)

API_VERSION = "v1beta"

_FINISH: dict[str, FinishReason] = {
    "STOP": "stop",
    "MAX_TOKENS": "length",
    "SAFETY": "content_filter",
    "RECITATION": "content_filter",
    "BLOCKLIST": "content_filter",
    "PROHIBITED_CONTENT": "content_filter",
    "SPII": "content_filter",
    "IMAGE_SAFETY": "content_filter",
    "MALFORMED_FUNCTION_CALL": "error",
}

_TOOL_MODE = {"auto": "AUTO", "required": "ANY", "any": "ANY", "none": "NONE"}


# -- request ------------------------------------------------------------------------------


def request_body(request: ChatRequest, *, default_max_tokens: int | None = None) -> dict[str, Any]:
    """The generateContent body for ``request`` (the same for the streaming method).

    ``default_max_tokens`` is only used when the request sets none; Gemini, unlike
    Anthropic, does not need a limit, so the default is to send none.
    """
    body: dict[str, Any] = {"contents": contents_body(request.messages)}
    system = request.system_text()
    if system:
        body["systemInstruction"] = {"parts": [{"text": system}]}
    config: dict[str, Any] = {}
    if request.temperature is not None:
        config["temperature"] = request.temperature
    if request.top_p is not None:
        config["topP"] = request.top_p
    max_tokens = request.max_tokens or default_max_tokens
    if max_tokens is not None:
        config["maxOutputTokens"] = max_tokens
    if request.stop:
        config["stopSequences"] = request.stop
    if request.seed is not None:
        config["seed"] = request.seed
    if request.response_format is not None and request.response_format.type != "text":
        config["responseMimeType"] = "application/json"
        if request.response_format.type == "json_schema":
            config["responseJsonSchema"] = request.response_format.schema_()
    if config:
        body["generationConfig"] = config
    if request.tools:
        body["tools"] = [{"functionDeclarations": [function_declaration(t) for t in request.tools]}]
    if request.tool_choice is not None:
        body["toolConfig"] = {"functionCallingConfig": function_calling_config(request.tool_choice)}
    return body


def contents_body(messages: list[Message]) -> list[dict[str, Any]]:
    """User and model turns; consecutive turns of one role are merged into one."""
    names: dict[str, str] = {}  # tool call id -> function name, for functionResponse parts
    contents: list[dict[str, Any]] = []
    for message in messages:
        if message.role in ("system", "developer"):
            continue
        if message.role == "tool":
            role, parts = "user", [_function_response(message, names)]
        elif message.role == "assistant":
            role, parts = "model", _parts(message.content)
            for call in message.tool_calls or []:
                function = call.get("function") or {}
                if not function.get("name"):
                    raise InvalidRequestError("an assistant tool call needs a function name")
                names[call.get("id", "")] = function["name"]
                parts.append(
                    {
                        "functionCall": {
                            "name": function["name"],
                            "args": parse_arguments(function.get("arguments")),
                        }
                    }
                )
        else:
            role, parts = "user", _parts(message.content)
        if not parts:
            continue
        if contents and contents[-1]["role"] == role:
            contents[-1]["parts"].extend(parts)
        else:
            contents.append({"role": role, "parts": parts})
    return contents


def _parts(content: str | list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    if not content:
        return []
    if isinstance(content, str):
        return [{"text": content}]
    return [_part(p) for p in content]


def _part(part: dict[str, Any]) -> dict[str, Any]:
    kind = part.get("type")
    if kind == "text":
        return {"text": part.get("text", "")}
    if kind == "image_url":
        image = part.get("image_url")
        url = image.get("url", "") if isinstance(image, dict) else str(image or "")
        header, sep, data = url[5:].partition(",") if url.startswith("data:") else ("", "", "")
        mime_type, _, encoding = header.partition(";")
        if not sep or encoding != "base64" or not mime_type:
            raise InvalidRequestError("Gemini takes images inline here: pass a data:image/...;base64,... URL")
        return {"inlineData": {"mimeType": mime_type, "data": data}}
    raise InvalidRequestError(f"Gemini does not take '{kind}' content parts")


def _function_response(message: Message, names: dict[str, str]) -> dict[str, Any]:
    name = names.get(message.tool_call_id or "") or message.name
    if not name:
        raise InvalidRequestError(
            "a tool message must answer an earlier assistant tool call (Gemini needs the function's name)"
        )
    text = message.text()
    try:
        value = json.loads(text)
    except ValueError:
        value = None
    # functionResponse.response must be an object: a JSON object result goes as it is,
    # anything else is wrapped.
    response = value if isinstance(value, dict) else {"result": text}
    return {"functionResponse": {"name": name, "response": response}}


def function_declaration(tool: dict[str, Any]) -> dict[str, Any]:
    """An OpenAI function tool as a Gemini function declaration."""
    function = function_of(tool, "Gemini")
    declaration: dict[str, Any] = {"name": function["name"]}
    if function.get("description"):
        declaration["description"] = function["description"]
    if function.get("parameters"):
        declaration["parameters"] = function["parameters"]
    return declaration


def function_calling_config(choice: str | dict[str, Any]) -> dict[str, Any]:
    """OpenAI's tool_choice as Gemini's functionCallingConfig."""
    if isinstance(choice, str):
        if choice not in _TOOL_MODE:
            raise InvalidRequestError(f"unknown tool_choice '{choice}'")
        return {"mode": _TOOL_MODE[choice]}
    return {"mode": "ANY", "allowedFunctionNames": [chosen_function(choice)]}


# -- response -----------------------------------------------------------------------------


def completion_from_body(body: dict[str, Any]) -> Completion:
    """A whole generateContent answer as a completion."""
    usage = usage_from_body(body.get("usageMetadata")) or Usage()
    candidates = body.get("candidates") or []
    if not candidates:
        if (body.get("promptFeedback") or {}).get("blockReason"):
            # The prompt itself was blocked: an answer, if an empty one, not a failure.
            return Completion(
                finish_reason="content_filter", usage=usage, upstream_model=body.get("modelVersion")
            )
        raise ProviderError("gemini", "answered with no candidates")
    text, calls = _candidate_output(candidates[0], first_call=0)
    return Completion(
        content=text,
        tool_calls=[
            ToolCall(id=d.id or f"call_{d.index}", name=d.name or "", arguments=d.arguments) for d in calls
        ],
        finish_reason=_finish(candidates[0].get("finishReason"), bool(calls)),
        usage=usage,
        upstream_model=body.get("modelVersion"),
    )


def _candidate_output(candidate: dict[str, Any], *, first_call: int) -> tuple[str, list[ToolCallDelta]]:
    """The visible text and the function calls of one candidate; thought parts are left out."""
    text: list[str] = []
    calls: list[ToolCallDelta] = []
    for part in (candidate.get("content") or {}).get("parts") or []:
        if "functionCall" in part:
            call = part["functionCall"] or {}
            index = first_call + len(calls)
            calls.append(
                ToolCallDelta(
                    index=index,
                    id=call.get("id") or f"call_{index}",
                    name=call.get("name"),
                    arguments=json.dumps(call.get("args") or {}),
                )
            )
        elif part.get("text") and not part.get("thought"):
            text.append(part["text"])
    return "".join(text), calls


def _finish(reason: str | None, has_calls: bool) -> FinishReason | None:
    finish = _FINISH.get(reason or "")
    # Gemini says STOP after a function call; OpenAI callers look for "tool_calls".
    if finish == "stop" and has_calls:
        return "tool_calls"
    return finish


def usage_from_body(usage: dict[str, Any] | None) -> Usage | None:
    """Prompt and output tokens; thinking tokens are billed as output, so they count as such."""
    if not usage:
        return None
    return Usage(
        prompt_tokens=usage.get("promptTokenCount") or 0,
        completion_tokens=(usage.get("candidatesTokenCount") or 0) + (usage.get("thoughtsTokenCount") or 0),
    )


class StreamState:
    """Turns streamGenerateContent chunks into stream chunks.

    Output is yielded as it comes; finish reason, usage (from the last chunk that had any)
    and model version are kept for the one closing chunk :meth:`final` builds.
    """

    def __init__(self, provider: str) -> None:
        self.provider = provider
        self.finish_seen = False
        self._finish: str | None = None
        self._blocked = False
        self._has_calls = False
        self._calls = 0
        self._usage: Usage | None = None
        self._model: str | None = None

    def feed(self, data: dict[str, Any]) -> StreamChunk | None:
        """The chunk for one streamed response, or None; raises ProviderError for an error."""
        if "error" in data:
            error = data["error"] if isinstance(data["error"], dict) else {"message": data["error"]}
            code = error.get("code")
            raise ProviderError(
                self.provider,
                str(error.get("message") or "error in stream"),
                status=code if isinstance(code, int) else None,
                error_type=error.get("status"),
            )
        self._model = data.get("modelVersion") or self._model
        self._usage = usage_from_body(data.get("usageMetadata")) or self._usage
        candidates = data.get("candidates") or []
        if not candidates:
            if (data.get("promptFeedback") or {}).get("blockReason"):
                self._blocked = self.finish_seen = True
            return None
        candidate = candidates[0]
        if candidate.get("finishReason"):
            self._finish = candidate["finishReason"]
            self.finish_seen = True
        text, calls = _candidate_output(candidate, first_call=self._calls)
        self._calls += len(calls)
        self._has_calls = self._has_calls or bool(calls)
        if not (text or calls):
            return None
        return StreamChunk(text=text, tool_calls=calls, upstream_model=self._model)

    def final(self) -> StreamChunk:
        """The closing chunk: finish reason, usage and model version."""
        finish = "content_filter" if self._blocked else _finish(self._finish, self._has_calls)
        return StreamChunk(finish_reason=finish, usage=self._usage or Usage(), upstream_model=self._model)


# -- provider -----------------------------------------------------------------------------


class GeminiProvider:
    """The Gemini API over HTTP. Never retries: the client does."""

    capabilities = Capabilities(weights="remote", operations=frozenset({"chat", "images"}))

    def __init__(self, http: httpx.AsyncClient) -> None:
        self._http = http

    def _call(self, target: Target, method: str) -> tuple[str, dict[str, str]]:
        assert target.provider.base_url is not None
        headers = dict(target.provider.headers)
        if target.api_key:
            headers["x-goog-api-key"] = target.api_key
        model = target.upstream.removeprefix("models/")
        base = target.provider.base_url.rstrip("/")
        return f"{base}/{API_VERSION}/models/{model}:{method}", headers

    async def complete(self, target: Target, request: ChatRequest) -> Completion:
        url, headers = self._call(target, "generateContent")
        data = await post_json(
            self._http,
            target.provider_name,
            url,
            request_body(request),
            headers=headers,
            timeout=target.provider.timeout_s,
        )
        try:
            return completion_from_body(data)
        except ProviderError as exc:
            raise ProviderError(target.provider_name, exc.provider_message) from None

    async def stream(self, target: Target, request: ChatRequest) -> AsyncIterator[StreamChunk]:
        url, headers = self._call(target, "streamGenerateContent?alt=sse")
        state = StreamState(target.provider_name)
        events = post_sse(
            self._http,
            target.provider_name,
            url,
            request_body(request),
            headers=headers,
            timeout=target.provider.timeout_s,
        )
        try:
            async with aclosing(events):
                async for event in events:
                    chunk = state.feed(event_json(target.provider_name, event))
                    if chunk is not None:
                        yield chunk
        except ProviderError as exc:
            # A connection lost after the finishReason chunk lost nothing of the answer.
            if not (state.finish_seen and exc.status is None and exc.error_type is None):
                raise
        if not state.finish_seen:
            raise ProviderError(target.provider_name, "stream ended before a finishReason")
        yield state.final()

    async def generate_images(self, target: Target, request: ImageRequest) -> Images:
        """Imagen by ``:predict``, n pictures in one call; any other model by n
        ``generateContent`` calls at once (see :mod:`weighbridge.providers.gemini_images`)."""
        model = target.upstream.removeprefix("models/")
        if is_imagen(model):
            answer = await self._post(target, "predict", predict_body(request, model))
            return images_from_predictions(target.provider_name, answer, model)
        body = generate_content_body(request, model)
        answers = await gather_all(self._post(target, "generateContent", body) for _ in range(request.n))
        return combined([images_from_content(target.provider_name, answer) for answer in answers])

    async def _post(self, target: Target, method: str, body: dict[str, Any]) -> dict[str, Any]:
        url, headers = self._call(target, method)
        return await post_json(
            self._http, target.provider_name, url, body, headers=headers, timeout=target.provider.timeout_s
        )

    async def aclose(self) -> None:
        return None
