"""``strategy = "auto"`` on upstreams of known quality per task: a strong, dear model right on
every question, a cheap one right only on the easy ones, and an on-premises one nobody has
measured. The evidence is made as a user makes it (compare runs of two prompt files, tasks
``easy`` and ``hard``) and read by the real advisor from the real store; the upstreams are
scripted providers (tests/support/scripted.py), so what each was sent is the proof of where a
request went."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from tests.support import scripted
from tests.support.cli import invoke
from tests.support.compare import prompt_file, run
from tests.support.gateway import serving
from weighbridge.client import Client
from weighbridge.config import load_settings
from weighbridge.errors import ConfigError
from weighbridge.evidence.advisor import EvidenceAdvisor
from weighbridge.providers.retry import RetryPolicy
from weighbridge.routing.breaker import Breakers
from weighbridge.routing.plan import plan

DEAR = '{ input_per_mtok = 10, output_per_mtok = 40, as_of = "2026-01-01", source = "test" }'
CHEAP = '{ input_per_mtok = 0.1, output_per_mtok = 0.4, as_of = "2026-01-01", source = "test" }'
EASY = [{"id": f"e{n}", "prompt": f"What is {n} plus 2?", "reference": str(n + 2)} for n in range(12)]
HARD = [{"id": f"h{n}", "prompt": f"Prove lemma {n}.", "reference": f"QED-{n}"} for n in range(12)]
MAIL = "write to jane.doe@example.com"


def answer(model: str, question: str) -> str:
    """The strong model is always right; the cheap one on all sums but the first; on-prem says hello."""
    if question.startswith("What is"):
        n = int(question.split()[2])
        return "3" if n == 0 and model.startswith("cheap") else str(n + 2)
    if question.startswith("Prove lemma") and model.startswith("strong"):
        return "QED-" + question.split()[2].rstrip(".")
    return "hello" if model.startswith("onprem") else "I am not sure."


CONFIG = f"""
[providers.strong]
type = "scripted"
base_url = "scripted://strong"
[providers.cheap]
type = "scripted"
base_url = "scripted://cheap"
[providers.onprem]
type = "scripted"
base_url = "scripted://onprem"
data_leaves_machine = false
[models.strong]
provider = "strong"
model = "strong-up"
price = {DEAR}
[models.cheap]
provider = "cheap"
model = "cheap-up"
price = {CHEAP}
[models.onprem]
provider = "onprem"
model = "onprem-up"
[routes.smart]
strategy = "auto"
privacy = "local-only"
targets = [{{ model = "strong" }}, {{ model = "cheap" }}, {{ model = "onprem" }}]
[routes.smart.auto]
min_items = 5
[routes.watch]
strategy = "auto"
targets = [{{ model = "strong" }}, {{ model = "cheap" }}]
[routes.watch.auto]
mode = "shadow"
task = "easy"
min_items = 5
[routes.curious]
strategy = "auto"
targets = [{{ model = "strong" }}, {{ model = "cheap" }}, {{ model = "onprem" }}]
[routes.curious.auto]
min_items = 5
explore = 0.2
"""


@pytest.fixture
def upstreams(scripts: dict[str, scripted.Script]) -> dict[str, scripted.Script]:
    made = {name: scripted.script(name, respond=answer) for name in ("strong", "cheap", "onprem")}
    for name, each in made.items():
        each.upstream = f"{name}-snap-1"
    return made


@pytest.fixture
def client(home: Path, upstreams: dict[str, scripted.Script], tmp_path: Path) -> Iterator[Client]:
    """A client on a store holding one compare run per task, made before auto routes read it."""
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.toml").write_text(CONFIG)
    policy = RetryPolicy(base_delay_s=0.01, max_attempts=1)
    with Client(load_settings(), retry_policy=policy, advisor=EvidenceAdvisor) as made:
        for name, rows in (("easy", EASY), ("hard", HARD)):
            run(made, prompt_file(tmp_path, rows, f"{name}.jsonl"), models=["strong", "cheap"])
        yield made


def sent_to(upstreams: dict[str, scripted.Script]) -> dict[str, int]:
    return {name: len(each.requests) for name, each in upstreams.items()}


def test_the_easy_task_goes_to_the_cheap_model_and_the_hard_one_to_the_strong(
    client: Client, upstreams: dict[str, scripted.Script]
) -> None:
    before = sent_to(upstreams)
    easy = client.chat("What is 40 plus 2?", model="smart", task="easy")
    hard = client.chat("Prove lemma 99.", model="smart", task="hard")
    assert (easy.model, easy.content) == ("cheap", "42")
    assert hard.model == "strong", hard.route_reason
    after = sent_to(upstreams)
    assert (after["cheap"] - before["cheap"], after["strong"] - before["strong"]) == (1, 1)

    # the reason carries the numbers: 11 of 12 easy items against 12, too close to tell apart
    # (the paired interval holds 0), and the cheap one costs a fraction of the strong one's price
    assert easy.route_reason is not None and hard.route_reason is not None
    assert (
        "easy: cheap 0.92 [0.75-1.00] vs best strong 1.00 [1.00-1.00], indistinguishable, 2% of the cost"
        in (easy.route_reason)
    )
    assert "; 24 answers, 0 votes" in easy.route_reason
    assert "hard: strong 1.00 [1.00-1.00] is best, and no cheaper target comes close" in hard.route_reason
    # ... in the log and the audit chain as well
    logged = {r.id: r for r in client.store.recent(10)}
    assert logged[easy.id].route_reason == easy.route_reason
    assert client.store.verify().ok


def test_too_little_evidence_says_so_and_takes_the_default(client: Client) -> None:
    unknown = client.chat("Write a haiku.", model="smart", task="poetry")
    assert unknown.model == "strong"  # the first target: the route sets no default
    assert unknown.route_reason is not None
    assert "poetry: evidence too thin to choose (0 scored answers, 0 votes; 5 per target needed)" in (
        unknown.route_reason
    )
    untagged = client.chat("What is 1 plus 2?", model="smart")
    assert untagged.model == "strong" and "no task" in (untagged.route_reason or "")


def test_a_flagged_prompt_never_leaves_the_machine_whatever_the_evidence(
    client: Client, upstreams: dict[str, scripted.Script]
) -> None:
    before = sent_to(upstreams)
    flagged = client.chat(f"Prove lemma 3, then {MAIL}", model="smart", task="hard")
    assert flagged.model == "onprem"
    assert sent_to(upstreams)["strong"] == before["strong"] and sent_to(upstreams)["cheap"] == before["cheap"]
    assert "local-only" in (flagged.route_reason or "")


def test_shadow_mode_keeps_the_order_and_says_what_auto_would_do(client: Client) -> None:
    answer = client.chat("What is 5 plus 2?", model="watch")
    assert answer.model == "strong"
    assert "auto (shadow) would choose cheap: easy: cheap 0.92" in (answer.route_reason or "")


def test_exploration_stays_within_its_share(client: Client) -> None:
    """20% of requests go to the target with thin evidence, drawn; the others to the choice."""
    settings, advisor = client.settings, client.planner.advisor
    route = settings.routes["curious"]
    draw = random.Random(7)
    firsts = [
        plan("curious", route, settings, Breakers(), sensitive=[], rng=draw, task="easy", advisor=advisor)[
            0
        ].target.model_id
        for _ in range(2000)
    ]
    explored = firsts.count("onprem")
    assert 340 <= explored <= 460  # 400 expected; 3.4 standard deviations either side
    assert firsts.count("cheap") == 2000 - explored  # never the strong one: it is not the choice


def test_changed_weights_start_from_no_evidence(
    client: Client, upstreams: dict[str, scripted.Script]
) -> None:
    assert client.chat("What is 1 plus 2?", model="smart", task="easy").model == "cheap"
    upstreams["cheap"].upstream = "cheap-snap-2"  # the provider moved the alias to new weights
    client.chat("What is 2 plus 2?", model="cheap")  # the log sees them
    advisor = client.planner.advisor
    assert isinstance(advisor, EvidenceAdvisor)
    advisor.check_s = 0.0
    deadline = time.monotonic() + 10
    while True:  # the next check, in the background, rebuilds on the news
        routed = client.chat("What is 3 plus 2?", model="smart", task="easy")
        if routed.model == "strong" or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert routed.model == "strong"
    assert "strong 1.00 [1.00-1.00] is best" in (routed.route_reason or "")


def test_the_gateway_takes_the_task_from_a_header_or_metadata(
    home: Path, client: Client, upstreams: dict[str, scripted.Script]
) -> None:
    client.close()  # the gateway opens the same store
    with serving(home) as url:
        sdk = openai.OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0)
        raw = sdk.chat.completions.with_raw_response.create(
            model="smart",
            messages=[{"role": "user", "content": "What is 7 plus 2?"}],
            extra_headers={"x-weighbridge-task": "easy"},
        )
        assert raw.headers["x-weighbridge-model"] == "cheap"
        assert raw.headers["x-weighbridge-route-reason"].startswith("route smart: auto: easy: cheap 0.92")
        tagged = sdk.chat.completions.create(
            model="smart",
            messages=[{"role": "user", "content": "Prove lemma 5."}],
            metadata={"task": "hard"},
            stream=True,
        )
        assert "".join(c.choices[0].delta.content or "" for c in tagged if c.choices) == "QED-5"
        bad = httpx.post(
            f"{url}/v1/chat/completions",
            json={"model": "smart", "messages": [{"role": "user", "content": "hi"}], "metadata": {"task": 3}},
        )
        assert bad.status_code == 400 and bad.json()["error"]["message"] == "metadata.task must be a string"

        # a key whose budget cannot hold the strong model's worst case (8 tokens at $40/M) still
        # gets an answer on the hard task, from the target it can afford, and is told why
        made = invoke("keys", "create", "--name", "thrifty", "--budget-usd", "0.0001")
        assert made.returncode == 0, made.stderr
        thrifty = openai.OpenAI(base_url=f"{url}/v1", api_key=made.stdout.strip(), max_retries=0)
        raw = thrifty.chat.completions.with_raw_response.create(
            model="smart",
            messages=[{"role": "user", "content": "Prove lemma 6."}],
            max_tokens=8,
            extra_headers={"x-weighbridge-task": "hard"},
        )
        reason = raw.headers["x-weighbridge-route-reason"]
        assert raw.headers["x-weighbridge-model"] == "cheap", reason
        assert "strong: could cost up to $0.000" in reason and "more than the budget has left" in reason


def test_a_request_without_a_task_is_classified_on_this_machine(
    home: Path, client: Client, upstreams: dict[str, scripted.Script]
) -> None:
    """The task of an untagged request comes from the nearest stored prompts, in the embedded
    model's embeddings: the sum goes to the cheap model, the proof to the strong one."""
    config = home / "config.toml"
    config.write_text(
        CONFIG
        + '[routes.sorted]\nstrategy = "auto"\ntargets = [{ model = "strong" }, { model = "cheap" }]\n'
        + '[routes.sorted.auto]\nclassify_with = "smollm2-135m"\nmin_items = 5\n'
        + '[routes.leaky]\nstrategy = "auto"\ntargets = [{ model = "strong" }]\n'
        + '[routes.leaky.auto]\nclassify_with = "cheap"\n'
    )
    with Client(load_settings(config), advisor=EvidenceAdvisor) as sorting:
        easy = sorting.chat("What is 17 plus 2?", model="sorted")
        hard = sorting.chat("Prove lemma 31.", model="sorted")
        assert (easy.model, hard.model) == ("cheap", "strong")
        assert "(task found by smollm2-135m: 5 of the 5 nearest tagged prompts" in (easy.route_reason or "")
        classified = [r for r in sorting.store.recent(20) if r.source == "route-classifier"]
        assert classified and {r.model for r in classified} == {"smollm2-135m"}
        with pytest.raises(ConfigError, match="cheap is not a local model"):
            sorting.chat("What is 1000 plus 2?", model="leaky")
        assert not any(
            "What is 1000 plus 2?" in m.text() for r in upstreams["cheap"].requests for m in r.messages
        )
