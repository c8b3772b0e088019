"""Where each request goes, before anything is sent: the calls it will make (one for a model,
a planned sequence for a route, each with what its model's entry fills in and what privacy
rules redact) and the most it can cost. It also holds the routing state those plans read: the
circuit breakers and the requests in flight per target."""

from __future__ import annotations

from typing import Any, TypeVar

from weighbridge.call import Asked, Call, ChatCall
from weighbridge.capabilities import Operation
from weighbridge.config import Settings
from weighbridge.costs import CHARS_PER_TOKEN_FLOOR, worst_case_image_usd, worst_case_usd
from weighbridge.errors import ConfigError, InvalidRequestError
from weighbridge.privacy import Guard
from weighbridge.routing.advice import Advisor, Tagged
from weighbridge.routing.breaker import Breakers
from weighbridge.routing.load import InFlight
from weighbridge.routing.plan import not_for_chat, plan
from weighbridge.routing.routes import Route
from weighbridge.targets import Target, resolve
from weighbridge.types import ChatRequest, EmbeddingRequest, ImageRequest, Message, ScoreRequest, TextRequest

#: The requests a model's catalog defaults fill in.
_Defaulted = TypeVar("_Defaulted", ChatRequest, ImageRequest)

#: What each operation that is not a chat is called in an error.
_OPERATION_NAMES: dict[Operation, str] = {
    "text": "text completions",
    "embeddings": "embeddings",
    "score": "scoring continuations",
    "images": "images",
}


class Planner:
    def __init__(self, settings: Settings, advisor: Advisor | None = None) -> None:
        self.settings = settings
        self.breakers = Breakers()
        self.in_flight = InFlight()
        #: What auto routes choose on: the evidence, read from far above (see routing.advice).
        self.advisor = advisor
        self._guard: Guard | None = None

    async def classify(self, request: ChatRequest) -> Tagged | None:
        """The task of a request to an auto route that names none, found by the route's local
        classifier; None where the request or route names one, or nothing classifies."""
        route = self.settings.routes.get(request.model)
        if route is None or route.strategy != "auto" or request.task or route.auto.task:
            return None
        model = route.auto.classify_with
        if model is None or self.advisor is None:
            return None
        if not resolve(self.settings, model).runs_locally:
            raise ConfigError(
                f"routes.{request.model}.auto.classify_with: {model} is not a local model, and a "
                "request's text must not leave this machine to be classified"
            )
        return await self.advisor.classify(request.messages, model)

    def calls(
        self,
        request: ChatRequest,
        source: str,
        key_name: str | None = None,
        *,
        tagged: Tagged | None = None,
        within_usd: float | None = None,
    ) -> list[ChatCall]:
        """The attempts a chat makes, in order: one for a model, a planned sequence for a route.
        ``tagged`` is what :meth:`classify` found; ``within_usd`` what the caller's budgets hold
        for it (a route's targets that could cost more are left out)."""
        route = self.settings.routes.get(request.model)
        if route is None:
            target = resolve(self.settings, request.model)
            if (why := not_for_chat(target)) is not None:
                raise InvalidRequestError(why)
            return [self._prepare(request, target, source, key_name)]
        sensitive = self._sensitive(route, "\n".join(m.text() for m in request.messages))
        busy = self.in_flight.snapshot() if route.strategy == "least-outstanding" else None
        task = request.task or (tagged.task if tagged else None) or route.auto.task
        calls = []
        for choice in plan(
            request.model,
            route,
            self.settings,
            self.breakers,
            sensitive=sensitive,
            in_flight=busy,
            task=task,
            advisor=self.advisor,
            tagged=tagged,
            over_budget=self._over(request, within_usd),
        ):
            asked = request.model_copy(update={"model": choice.target.model_id})
            routed = (request.model, route, choice.reason)
            call = self._prepare(asked, choice.target, source, key_name, route=routed)
            if choice.redact:
                call.redact(self.guard())
            calls.append(call)
        return calls

    def image_calls(
        self, request: ImageRequest, source: str, key_name: str | None = None
    ) -> list[Call[ImageRequest]]:
        """The attempts an image request makes: one for a model; for a route, its image targets
        in its order under its privacy rule (a flagged prompt stays on this machine, or goes
        out with the flagged spans replaced), each a fallback for the one before."""
        route = self.settings.routes.get(request.model)
        if route is None:
            return [self.direct(request, "images", source, key_name)]
        sensitive = self._sensitive(route, f"{request.prompt}\n{request.negative_prompt or ''}")
        calls: list[Call[ImageRequest]] = []
        for choice in plan(
            request.model, route, self.settings, self.breakers, sensitive=sensitive, operation="images"
        ):
            asked = _with_defaults(
                request.model_copy(update={"model": choice.target.model_id}), choice.target
            )
            call = Call(
                asked,
                choice.target,
                self.settings,
                source,
                key_name,
                route=(request.model, route, choice.reason),
            )
            if choice.redact:
                call.redact(self.guard())
            calls.append(call)
        return calls

    def _sensitive(self, route: Route, text: str) -> list[str]:
        """The kinds of data the guard finds in ``text``, where the route has a privacy rule."""
        return [span.kind for span in self.guard().detect(text)] if route.privacy != "none" else []

    def direct(
        self,
        request: TextRequest | EmbeddingRequest | ScoreRequest | ImageRequest,
        operation: Operation,
        source: str,
        key_name: str | None = None,
    ) -> Call[Any]:
        """The one call a request that is not a chat makes, if its model's provider offers it.

        Routes, privacy rules and fallbacks are defined over chats and pictures
        (:meth:`image_calls`), so these name a model.
        """
        what = _OPERATION_NAMES[operation]
        if request.model in self.settings.routes:
            raise InvalidRequestError(
                f"'{request.model}' is a route; routes serve chats and images: name a model for {what}"
            )
        target = resolve(self.settings, request.model)
        if not target.capabilities.offers(operation):
            raise InvalidRequestError(
                f"{target.model_id} ({target.provider.type} provider) does not offer {what}"
                + (": it is a chat model" if operation == "images" else "")
            )
        if isinstance(request, ImageRequest):
            request = _with_defaults(request, target)
        return Call(request, target, self.settings, source, key_name)

    def max_cost_usd(self, request: Asked) -> float:
        """The most ``request`` can cost, known before it is sent (for budget reservations)."""
        return max(self.worst_costs(request).values())

    def worst_costs(self, request: Asked) -> dict[str, float]:
        """The most ``request`` can cost on each target it may end on (a route's, in order):
        what a budget with less left than the whole could still hold for the cheaper ones."""
        if isinstance(request, ImageRequest):
            rate = self.settings.catalog.self_hosting
            return {
                c.target.model_id: worst_case_image_usd(
                    c.target.entry,
                    c.request.size,  # as sent: the entry's default size where the request gives none
                    c.request.quality,
                    c.request.n,
                    runs_locally=c.target.runs_locally,
                    self_hosting=rate,
                )
                for c in self.image_calls(request, "")
            }
        if isinstance(request, ChatRequest):
            chars = sum(len(m.text()) for m in request.messages)
            sent = [(c.target, c.request.max_tokens) for c in self.calls(request, "")]
        else:
            chars = _prompt_chars(request)
            max_tokens = request.max_tokens if isinstance(request, TextRequest) else 0
            sent = [(resolve(self.settings, request.model), max_tokens)]
        worst: dict[str, float] = {}
        for target, asked_tokens in sent:
            entry = target.entry
            max_tokens = entry.max_output_tokens or entry.context_tokens or 4096
            worst[target.model_id] = worst_case_usd(
                entry,
                chars,
                max_tokens if asked_tokens is None else asked_tokens,
                runs_locally=target.runs_locally,
                self_hosting=self.settings.catalog.self_hosting,
            )
        return worst

    def _over(self, request: ChatRequest, within_usd: float | None) -> dict[str, float]:
        """The targets whose worst case is more than ``within_usd``, with that worst case."""
        if within_usd is None:
            return {}
        return {model: usd for model, usd in self.worst_costs(request).items() if usd > within_usd}

    def guard(self) -> Guard:
        """The privacy guard for these settings, built on first use."""
        if self._guard is None:
            settings = self.settings
            self._guard = Guard(patterns=settings.privacy_patterns, terms=settings.privacy_terms)
        return self._guard

    def _prepare(
        self,
        request: ChatRequest,
        target: Target,
        source: str,
        key_name: str | None,
        *,
        route: tuple[str, Route, str] | None = None,
    ) -> ChatCall:
        """The call to ``target``, with what the model's entry supplies by default filled in."""
        request = _with_defaults(request, target)
        default_system = target.entry.system_prompt
        if default_system and request.system_text() is None:
            system = Message(role="system", content=default_system)
            request = request.model_copy(update={"messages": [system, *request.messages]})
        return Call(request, target, self.settings, source, key_name, route=route)


def _with_defaults(request: _Defaulted, target: Target) -> _Defaulted:
    """``request`` with what ``target``'s entry supplies where the request says nothing (as an
    Ollama Modelfile's parameters): a chat's sampling, a distilled image model's few steps. A
    picture's ``quality`` says how many steps itself (a share of the pipeline's), so it keeps
    them."""
    if target.entry.defaults is None:
        return request
    said = {"steps"} if isinstance(request, ImageRequest) and request.quality is not None else set()
    unset = {
        name: value
        for name, value in target.entry.defaults.model_dump(exclude_none=True).items()
        if getattr(request, name) is None and name not in said
    }
    return request.model_copy(update=unset) if unset else request


def _prompt_chars(request: TextRequest | EmbeddingRequest | ScoreRequest) -> int:
    """Characters to price a prompt by; token ids count as the fewest characters a token has."""
    if isinstance(request, ScoreRequest):
        return (len(request.prompt) + sum(map(len, request.continuations))) * CHARS_PER_TOKEN_FLOOR
    prompts = [request.prompt] if isinstance(request, TextRequest) else request.input
    return sum(len(p) if isinstance(p, str) else len(p) * CHARS_PER_TOKEN_FLOOR for p in prompts)
