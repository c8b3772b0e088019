"""Routes: the plan (order, skips and their reasons), the circuit breaker, and fallbacks
walked by the real client against scripted providers (tests/support/scripted.py) that fail on
cue: what is checked sits above the providers, so no wire is needed to check it."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from tests.support.scripted import Script, script
from weighbridge.client import Client
from weighbridge.config import load_settings
from weighbridge.errors import NoRouteError, ProviderError, StreamInterruptedError
from weighbridge.providers.retry import RetryPolicy
from weighbridge.routing.breaker import Breakers
from weighbridge.routing.load import MACHINE, InFlight
from weighbridge.routing.plan import plan
from weighbridge.routing.routes import Route

SERVER_ERROR = "The server had an error"


def settings_with(home: Path, text: str):  # type: ignore[no-untyped-def]
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.toml").write_text(text)
    return load_settings()


def route(**fields: object) -> Route:
    return Route.model_validate(fields)


def test_plan_skips_what_cannot_run_and_says_why(home: Path) -> None:
    settings = settings_with(home, "")
    choices = plan(
        "r",
        route(targets=[{"model": "gpt-5"}, {"model": "smollm2-135m"}]),
        settings,
        Breakers(),
        sensitive=[],
    )
    assert [c.target.model_id for c in choices] == ["smollm2-135m"]
    assert "OPENAI_API_KEY" in choices[0].reason and "route r" in choices[0].reason


def test_local_only_keeps_flagged_requests_home(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    settings = settings_with(home, "")
    spec = route(targets=[{"model": "gpt-5"}, {"model": "smollm2-135m"}], privacy="local-only")
    flagged = plan("r", spec, settings, Breakers(), sensitive=["email"])
    assert [c.target.model_id for c in flagged] == ["smollm2-135m"]
    assert "local-only" in flagged[0].reason and "email" in flagged[0].reason
    clean = plan("r", spec, settings, Breakers(), sensitive=[])
    assert [c.target.model_id for c in clean] == ["gpt-5", "smollm2-135m"]
    only_closed = route(targets=[{"model": "gpt-5"}], privacy="local-only")
    with pytest.raises(NoRouteError, match="local-only"):
        plan("r", only_closed, settings, Breakers(), sensitive=["card"])


def test_price_ceiling_and_open_circuits_are_skipped(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    settings = settings_with(home, "")
    breakers = Breakers(threshold=1)
    breakers.failure("openai/gpt-5-mini")
    spec = route(
        targets=[
            {"model": "gpt-5-pro", "max_output_price": 20},
            {"model": "gpt-5-mini"},
            {"model": "smollm2-135m"},
        ]
    )
    choices = plan("r", spec, settings, breakers, sensitive=[])
    assert [c.target.model_id for c in choices] == ["smollm2-135m"]
    assert "over the route's $20" in choices[0].reason and "circuit open" in choices[0].reason


def test_weighted_strategy_follows_the_weights(home: Path) -> None:
    settings = settings_with(home, "")
    spec = route(
        strategy="weighted",
        targets=[{"model": "smollm2-135m", "weight": 9}, {"model": "smollm2-135m", "weight": 1}],
    )
    rng = random.Random(7)
    firsts = [plan("r", spec, settings, Breakers(), sensitive=[], rng=rng)[0].reason for _ in range(200)]
    assert sum("weight 9" in r for r in firsts) > 150


def test_least_outstanding_prefers_the_idlest_replica_per_unit_of_weight(home: Path) -> None:
    box = '[providers.box]\ntype = "openai"\nbase_url = "http://10.0.0.2:8080/v1"\n'
    settings = settings_with(home, box + '[models.other]\nprovider = "box"\nmodel = "smollm2"\n')
    spec = route(
        strategy="least-outstanding", targets=[{"model": "smollm2-135m"}, {"model": "other", "weight": 2}]
    )
    busy = {"smollm2-135m": 1, "other": 3}  # 1 per unit of weight against 1.5
    choices = plan("r", spec, settings, Breakers(), sensitive=[], in_flight=busy)
    assert [c.target.model_id for c in choices] == ["smollm2-135m", "other"]
    assert "least outstanding requests (1 in flight)" in choices[0].reason
    assert "fallback" in choices[1].reason  # the busier replica still backs it up
    busy["smollm2-135m"] = 2
    assert plan("r", spec, settings, Breakers(), sensitive=[], in_flight=busy)[0].target.model_id == "other"


def test_breaker_opens_probes_once_and_closes() -> None:
    breakers = Breakers(threshold=2, cooldown_s=0.05)
    breakers.failure("t")
    assert breakers.state("t") == "closed"
    breakers.failure("t")
    assert breakers.state("t") == "open" and not breakers.allow("t")
    time.sleep(0.06)
    assert breakers.state("t") == "half-open"
    assert breakers.allow("t") and not breakers.allow("t")  # one probe at a time
    breakers.failure("t")
    assert breakers.state("t") == "open"
    time.sleep(0.06)
    assert breakers.allow("t")
    breakers.success("t")
    assert breakers.state("t") == "closed" and breakers.allow("t")


@pytest.fixture
def upstreams(scripts: dict[str, Script]) -> tuple[Script, Script]:
    """What providers ``one`` (model ``first``) and ``two`` (model ``second``) answer."""
    return script("one"), script("two")


@pytest.fixture
def client(home: Path, upstreams: tuple[Script, Script]) -> Iterator[Client]:
    settings = settings_with(
        home,
        """
[providers.one]
type = "scripted"
base_url = "scripted://one"
[providers.two]
type = "scripted"
base_url = "scripted://two"
[models.first]
provider = "one"
model = "m1"
[models.second]
provider = "two"
model = "m2"
[routes.resilient]
targets = [{ model = "first" }, { model = "second" }]
[routes.replicas]
strategy = "least-outstanding"
targets = [{ model = "first" }, { model = "second" }]
""",
    )
    policy = RetryPolicy(max_attempts=2, base_delay_s=0.01)
    with Client(settings, retry_policy=policy) as made:
        yield made


def test_fallback_after_the_first_target_fails(client: Client, upstreams: tuple[Script, Script]) -> None:
    first, second = upstreams
    first.fail(500, SERVER_ERROR).fail(500, SERVER_ERROR)
    second.answer("Hello there")
    response = client.chat("hi", model="resilient")
    assert response.model == "second" and response.route == "resilient"
    assert "fallback" in (response.route_reason or "")
    failed, answered = client.store.recent(2)[1], client.store.recent(2)[0]
    assert (failed.model, failed.status, failed.route) == ("first", "error", "resilient")
    assert (answered.model, answered.status) == ("second", "ok")


def test_no_fallback_for_the_callers_own_mistake(client: Client, upstreams: tuple[Script, Script]) -> None:
    first, second = upstreams
    first.fail(400, "bad temperature")
    with pytest.raises(ProviderError) as caught:
        client.chat("hi", model="resilient")
    assert caught.value.status == 400 and len(second.requests) == 0


def test_stream_falls_back_only_before_output(client: Client, upstreams: tuple[Script, Script]) -> None:
    first, second = upstreams
    for _ in range(2):
        first.fail(503, SERVER_ERROR)
    second.answer("Hello there")
    stream = client.stream("hi", model="resilient")
    assert "".join(c.text for c in stream) == "Hello there"
    assert stream.response is not None and stream.response.model == "second"

    first.cut("Hello")
    with pytest.raises(StreamInterruptedError):
        for _ in client.stream("hi", model="resilient"):
            pass
    assert len(second.requests) == 1  # the cut after output did not move on


def test_breaker_stops_calling_a_dead_target(client: Client, upstreams: tuple[Script, Script]) -> None:
    first, second = upstreams
    client.planner.breakers.threshold = 2
    for _ in range(4):
        first.fail(500, SERVER_ERROR)
    for _ in range(3):
        second.answer("Hello there")
    for _ in range(3):
        assert client.chat("hi", model="resilient").model == "second"
    assert len(first.requests) == 4  # two requests' attempts, then the circuit opened
    assert client.planner.breakers.state("one/m1") == "open"


def test_a_probe_in_flight_sends_others_to_the_next_target(
    client: Client, upstreams: tuple[Script, Script]
) -> None:
    first, second = upstreams
    client.planner.breakers.threshold, client.planner.breakers.cooldown_s = 1, 0.01
    client.planner.breakers.failure("one/m1")
    time.sleep(0.02)
    assert client.planner.breakers.allow("one/m1")  # another request holds the half-open probe
    second.answer("Hello there")
    response = client.chat("hi", model="resilient")
    assert response.model == "second" and first.requests == []
    [record] = client.store.recent(5)  # nothing was sent to the first target, so nothing logged
    assert record.model == "second" and record.route == "resilient"


def test_least_outstanding_spreads_open_streams_over_replicas(
    client: Client, upstreams: tuple[Script, Script]
) -> None:
    for upstream in upstreams:
        for _ in range(3):
            upstream.answer("Hello there")
    held = []
    for _ in range(6):  # each stream stays open (in flight) after its first chunk
        answer = iter(client.stream("hi", model="replicas"))
        next(answer)
        held.append(answer)
    assert [len(upstream.requests) for upstream in upstreams] == [3, 3]
    assert client.planner.in_flight.snapshot() == {"first": 3, "second": 3}
    for answer in held:
        list(answer)
    assert client.planner.in_flight.snapshot() == {}
    reasons = [record.route_reason or "" for record in client.store.recent(6)]
    assert all("least outstanding requests" in reason for reason in reasons)


def test_requests_in_flight_together_share_the_machine_time() -> None:
    counted = InFlight()
    with ExitStack() as first:
        a = first.enter_context(counted.held(MACHINE))
        time.sleep(0.1)  # a alone
        with counted.held(MACHINE) as b:
            time.sleep(0.1)  # a and b together
            assert counted.snapshot() == {}  # the machine is not a routing target
        time.sleep(0.1)  # a alone again
    assert a.seconds == pytest.approx(0.25, abs=0.03)
    assert b.seconds == pytest.approx(0.05, abs=0.03)
    assert a.seconds + b.seconds == pytest.approx(0.3, abs=0.03)  # the machine was busy 0.3 s, not 0.4


def test_a_picture_s_worst_cost_is_priced_at_the_size_it_will_be_drawn(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Budgets hold what the call will cost: a request without a size is drawn at the entry's
    default size, so that is its price, not the dearest one listed."""
    from weighbridge.types import ImageRequest

    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    settings = settings_with(
        home,
        '[models.pics]\nmodality = "image"\n'
        '[[models.pics.serve]]\nprovider = "openai"\nmodel = "gpt-image-1"\n'
        '[models.pics.price]\nper_image = { "256x256" = 0.01, "1024x1024" = 0.08 }\n'
        '[models.pics.defaults]\nsize = "256x256"\n',
    )
    with Client(settings) as client:
        assert client.planner.worst_costs(ImageRequest(model="pics", prompt="a fox")) == {"pics": 0.01}
        asked = ImageRequest(model="pics", prompt="a fox", size="1024x1024", n=2)
        assert client.planner.worst_costs(asked) == {"pics": 0.16}
