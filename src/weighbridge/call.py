"""One request on its way: where it goes, the clock, its price, and its log record."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar, cast

from weighbridge.config import Settings
from weighbridge.errors import ProviderError, WeighbridgeError
from weighbridge.hashing import digest
from weighbridge.privacy import Guard, Vault
from weighbridge.routing.routes import Route
from weighbridge.store import InferenceRecord, Store
from weighbridge.targets import Target
from weighbridge.types import (
    ChatRequest,
    ChatResponse,
    Completion,
    EmbeddingRequest,
    EmbeddingResponse,
    Embeddings,
    ImageRequest,
    ImageResponse,
    Images,
    ScoreRequest,
    ScoreResponse,
    Scores,
    TextCompletion,
    TextRequest,
    TextResponse,
    Usage,
)
from weighbridge.weights import pinned_sha256

Asked = ChatRequest | TextRequest | EmbeddingRequest | ScoreRequest | ImageRequest
Answer = ChatResponse | TextResponse | EmbeddingResponse | ScoreResponse | ImageResponse


R = TypeVar("R", bound=Asked)
A = TypeVar("A", bound=Answer)


class Call(Generic[R]):
    """One request on its way: what was asked, where it goes, and the clock."""

    def __init__(
        self,
        request: R,
        target: Target,
        settings: Settings,
        source: str,
        key_name: str | None,
        *,
        route: tuple[str, Route, str] | None = None,
    ) -> None:
        self.request: R = request
        self.source = source
        self.key_name = key_name
        self.target = target
        #: (route name, route, why this target) when the caller named a route.
        self.route = route
        #: The request as the provider sees it (redacted when the route says so).
        self.outgoing: R = request
        #: Placeholders for what was redacted before this request left the machine.
        self.vault: Vault | None = None
        self.retention = settings.retention
        self.id = "wb-" + uuid.uuid4().hex
        self.created_at = datetime.now(UTC).isoformat()
        self.started = time.perf_counter()
        self.weight_sha256: str | None = None
        #: For a local model: the machine time this call had, its share while others ran too.
        self.machine_s: float | None = None

    def redact(self, guard: Guard) -> None:
        """Send the provider the request with what ``guard`` finds replaced by placeholders,
        kept in a vault to put back into the answer."""
        vault = self.vault = Vault()
        if isinstance(self.request, ImageRequest):  # a picture has nothing to restore them in
            asked = self.request
            negative = guard.redact(asked.negative_prompt, vault) if asked.negative_prompt else None
            update = {"prompt": guard.redact(asked.prompt, vault), "negative_prompt": negative}
            self.outgoing = cast("R", asked.model_copy(update=update))
            return
        if not isinstance(self.request, ChatRequest):
            raise TypeError("only chats and image prompts are redacted")
        messages = [
            m.model_copy(update={"content": guard.redact(m.content, vault)})
            if isinstance(m.content, str)
            else m
            for m in self.request.messages
        ]
        self.outgoing = cast("R", self.request.model_copy(update={"messages": messages}))

    def falls_back_on(self, error: WeighbridgeError) -> bool:
        return self.route is not None and self.route[1].falls_back_on(error)

    def start(self) -> None:
        self.started = time.perf_counter()

    async def hash_weights(self, store: Store) -> None:
        path = self.target.weight_file
        if path is not None:
            self.weight_sha256 = await asyncio.to_thread(
                pinned_sha256, store, self.target.model_id, path, self.target.adapter
            )
            self.started = time.perf_counter()

    def answer(
        self,
        kind: type[A],
        got: Completion | TextCompletion | Embeddings | Scores | Images,
        *,
        settings: Settings,
        ttft_s: float | None = None,
    ) -> A:
        """What the provider gave, as the answer ``kind``, with what :meth:`metered` adds."""
        made = got if isinstance(got, Images) else None
        return kind(**got.model_dump(), **self.metered(got.usage, ttft_s, settings, images=made))

    def metered(
        self, usage: Usage, ttft_s: float | None, settings: Settings, *, images: Images | None = None
    ) -> dict[str, Any]:
        """What weighbridge adds to any answer: identity, clock, price, weights, route."""
        from weighbridge.costs import cost_usd, image_cost_usd

        latency = time.perf_counter() - self.started
        busy_s = latency if self.machine_s is None else self.machine_s
        local, rate = self.target.runs_locally, settings.catalog.self_hosting
        if images is not None:
            asked = cast(ImageRequest, self.request)
            size, count = images.size or asked.size, len(images.images)
            cost, basis = image_cost_usd(
                self.target.entry,
                size,
                asked.quality,
                count,
                usage,
                busy_s=busy_s,
                runs_locally=local,
                self_hosting=rate,
            )
        else:
            cost, basis = cost_usd(
                self.target.entry, usage, busy_s=busy_s, runs_locally=local, self_hosting=rate
            )
        return {
            "id": self.id,
            "model": self.target.model_id,
            "provider": self.target.provider_name,
            "latency_s": latency,
            "ttft_s": ttft_s,
            "cost_usd": cost,
            "cost_basis": basis,
            "weight_sha256": self.weight_sha256,
            "route": self.route[0] if self.route else None,
            "route_reason": self.route[2] if self.route else None,
        }

    def record(
        self,
        status: str,
        *,
        response: Answer | None = None,
        error: WeighbridgeError | None = None,
    ) -> InferenceRecord:
        asked = self.request.model_dump_json(exclude_none=True, exclude={"model"})
        answered = _answer_text(response) if response is not None else None
        # what made a picture, and the hash of each, are kept whatever the retention: they are
        # how a picture is recognised and made again, and say nothing of the prompt
        kept = answered if isinstance(response, ImageResponse) else _retained(answered, self.retention)
        return InferenceRecord(
            id=self.id,
            created_at=self.created_at,
            source=self.source,
            key_name=self.key_name,
            route=self.route[0] if self.route else None,
            route_reason=self.route[2] if self.route else None,
            model=self.target.model_id,
            provider=self.target.provider_name,
            status=status,
            retention=self.retention,
            upstream_model=response.upstream_model if response else None,
            weight_sha256=self.weight_sha256,
            prompt_tokens=response.usage.prompt_tokens if response else None,
            completion_tokens=response.usage.completion_tokens if response else None,
            latency_ms=(response.latency_s if response else time.perf_counter() - self.started) * 1000,
            ttft_ms=response.ttft_s * 1000 if response and response.ttft_s is not None else None,
            cost_usd=response.cost_usd if response else None,
            cost_basis=response.cost_basis if response else None,
            finish_reason=getattr(response, "finish_reason", None),
            error=error.message if error else None,
            request=_retained(asked, self.retention),
            response=kept,
        )


def _answer_text(response: Answer) -> str:
    if isinstance(response, EmbeddingResponse):  # vectors are data, not a text worth keeping
        return f"{len(response.vectors)} vectors of {len(response.vectors[0]) if response.vectors else 0}"
    if isinstance(response, TextResponse):
        return response.text
    if isinstance(response, ScoreResponse):
        return json.dumps([score.logprob for score in response.scores])
    if isinstance(response, ImageResponse):
        return json.dumps(
            {
                "sha256": [image.sha256 for image in response.images],
                "format": [image.format for image in response.images],
                "seed": response.seed,
                "steps": response.steps,
                "size": response.size,
            }
        )
    if not response.tool_calls:
        return response.content
    return json.dumps({"content": response.content, "tool_calls": [c.openai() for c in response.tool_calls]})


#: How an image record's answer begins in the log (:func:`_answer_text`): whatever the
#: retention, so the pictures a call made can be counted from the log alone.
IMAGE_RECORD = '{"sha256": ['


def pictures_in(response: str | None) -> int:
    """How many pictures a logged answer names: 0 for anything but an image call's."""
    if response is None or not response.startswith(IMAGE_RECORD):
        return 0
    return len(json.loads(response)["sha256"])


def _retained(text: str | None, retention: str) -> str | None:
    if text is None or retention == "none":
        return None
    if retention == "hash":
        return digest(text)
    return text


ChatCall = Call[ChatRequest]


def scrubbed(exc: WeighbridgeError, target: Target) -> WeighbridgeError:
    """The error with the target's key cut out, should a provider have echoed it back."""
    key = target.api_key
    if key and key in exc.message:
        exc.message = exc.message.replace(key, "[redacted]")
        exc.args = (exc.message,)
        if isinstance(exc, ProviderError):
            exc.provider_message = exc.provider_message.replace(key, "[redacted]")
    return exc


def cancelled(target: Target) -> WeighbridgeError:
    return ProviderError(target.provider_name, "the caller went away before the answer was complete")
