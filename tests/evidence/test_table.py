"""The evidence table built from what the store really holds: compare runs on scripted providers
(tests/support/scripted.py), arena votes recorded as the page records them, and the log those
calls wrote. Every figure is checked against one computed here by hand from the same data."""

from __future__ import annotations

import json
import statistics
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import scripted
from tests.support.cli import invoke
from tests.support.compare import CAPITALS, MODELS, Reply, Script, config_text, prompt_file, run
from tests.support.votes import answers, vote
from weighbridge.client import Client
from weighbridge.compare.stats import bootstrap_mean, summarise
from weighbridge.config import load_settings
from weighbridge.evidence import Row, table
from weighbridge.providers.retry import RetryPolicy
from weighbridge.web import ratings

#: France, Germany, Italy, Spain: cloud-a misses Spain; cloud-b misses Germany and fails on Spain.
ANSWERS: dict[str, dict[str, Reply]] = {
    "cloud-a": {"France": "Paris", "Germany": "Berlin", "Italy": "Rome", "Spain": "Barcelona"},
    "cloud-b": {"France": "Paris", "Germany": "Munich", "Italy": "Rome", "Spain": (500, "down", 0.0)},
}


@pytest.fixture
def providers(scripts: dict[str, scripted.Script], script: Script) -> dict[str, scripted.Script]:
    """The compare models' scripted providers, answering as ``script`` says, each answer
    reporting snapshot ``snap-1`` as what answered."""
    made = {model: scripted.script(provider, respond=script) for model, (provider, _) in MODELS.items()}
    for each in made.values():
        each.upstream = "snap-1"
    script.answers.update(ANSWERS)
    return made


@pytest.fixture
def client(home: Path, providers: dict[str, scripted.Script]) -> Iterator[Client]:
    home.mkdir(parents=True, exist_ok=True)
    config = home / "config.toml"
    config.write_text(config_text())  # also what the CLI reads: the home's config
    with Client(load_settings(config), retry_policy=RetryPolicy(base_delay_s=0.01, max_attempts=1)) as made:
        yield made


def rows(client: Client, task: str | None = None) -> dict[tuple[str, str, str | None], Row]:
    return {(r.task, r.model, r.weights): r for r in table(client.store, task=task)}


def logged(client: Client, model: str, weights: str) -> tuple[list[float], list[float]]:
    """The latencies (s) and costs of ``model``'s successful calls with ``weights``, from the log."""
    calls = [
        r
        for r in client.store.export()
        if r.model == model and r.status == "ok" and r.upstream_model == weights
    ]
    return [r.latency_ms / 1000 for r in calls if r.latency_ms is not None], [
        r.cost_usd for r in calls if r.cost_usd is not None
    ]


def test_compare_runs_votes_and_the_log_make_one_row_per_model(client: Client, tmp_path: Path) -> None:
    path = prompt_file(tmp_path, CAPITALS, "capitals.jsonl")
    first = run(client, path, models=["cloud-a", "cloud-b"])
    run(client, path, models=["cloud-a", "cloud-b"])  # from the cache (Spain asked of cloud-b again)
    for outcome in ("a", "tie"):
        vote(client.store, answers(first, "fr"), outcome, task="capitals")

    found = rows(client)
    assert list(found) == [("capitals", "cloud-a", "snap-1"), ("capitals", "cloud-b", "snap-1")]
    a, b = found[("capitals", "cloud-a", "snap-1")], found[("capitals", "cloud-b", "snap-1")]
    assert a.current and b.current

    # quality: each item once, though two runs hold it; a failed call scores 0, as compare scores it
    assert a.quality is not None and b.quality is not None
    assert (a.quality.source, a.quality.n, a.quality.mean) == ("compare", 4, 0.75)
    assert (b.quality.n, b.quality.mean) == (4, 0.5)
    assert sorted(a.quality.items.values()) == [0.0, 1.0, 1.0, 1.0]
    expected = bootstrap_mean([0.0, 1.0, 1.0, 1.0])
    assert (a.quality.low, a.quality.high) == (expected.low, expected.high)
    assert a.quality.mean == summarise(first)[0].score  # what `weighbridge compare` printed
    assert set(a.quality.items) == set(b.quality.items)  # the same items: they pair

    # arena: relative, in its own columns; a tie is half a win
    [rated_a, rated_b] = sorted(ratings.rate([("A", "B", "a"), ("A", "B", "tie")]), key=lambda r: r.model)
    assert a.arena is not None and b.arena is not None
    assert (a.arena.rating, a.arena.low, a.arena.high) == (rated_a.rating, rated_a.low, rated_a.high)
    assert (a.arena.votes, a.arena.win_rate, b.arena.win_rate) == (2, 0.75, 0.25)
    assert b.arena.rating == rated_b.rating

    # speed and price: the log's successful calls of these weights
    latencies, costs = logged(client, "cloud-a", "snap-1")
    assert a.speed is not None and a.speed.calls == 4 == len(costs)
    assert a.speed.latency_p50_s == pytest.approx(statistics.median(latencies))
    assert a.speed.cost_per_call_usd == pytest.approx(sum(costs) / len(costs))
    assert b.speed is not None and b.speed.calls == 3  # the two failed calls are not speed


def test_changed_weights_start_from_no_evidence(
    client: Client, providers: dict[str, scripted.Script], tmp_path: Path
) -> None:
    run(client, prompt_file(tmp_path, CAPITALS, "capitals.jsonl"))  # cloud-a, snap-1: 3 of 4
    providers["cloud-a"].upstream = "snap-2"
    (tmp_path / "again").mkdir()
    again = prompt_file(tmp_path / "again", CAPITALS[2:], "capitals.jsonl")  # Italy, Spain: same task
    run(client, again, use_cache=False)

    found = rows(client)
    old, new = found[("capitals", "cloud-a", "snap-1")], found[("capitals", "cloud-a", "snap-2")]
    assert not old.current and new.current
    assert old.quality is not None and (old.quality.n, old.quality.mean) == (4, 0.75)
    assert new.quality is not None and (new.quality.n, new.quality.mean) == (2, 0.5)  # nothing carried over
    assert set(new.quality.items) < set(old.quality.items)
    assert new.speed is not None and new.speed.calls == 2

    providers["cloud-a"].upstream = "snap-3"  # answers outside any run still show the change
    client.chat("Capital of France?", model="cloud-a")
    found = rows(client)
    newest = found[("capitals", "cloud-a", "snap-3")]
    assert newest.current and newest.quality is None and newest.arena is None
    assert newest.speed is not None and newest.speed.calls == 1
    assert [r.weights for r in found.values() if r.current] == ["snap-3"]


def test_the_command_filters_by_task_and_prints_json_and_a_table(
    client: Client, providers: dict[str, scripted.Script], tmp_path: Path
) -> None:
    assert "no evidence yet" in invoke("evidence").stdout
    run(client, prompt_file(tmp_path, CAPITALS, "capitals.jsonl"), models=["cloud-a", "cloud-b"])
    named = tmp_path / "named.yaml"  # the set names its task: the file's name does not count
    named.write_text(
        "task: geography\nprompts: ['Capital of {{country}}?']\n"
        "tests:\n  - vars: {country: France}\n    reference: Paris\n"
    )
    run(client, named)
    providers["cloud-b"].upstream = "snap-2"
    client.chat("Capital of France?", model="cloud-b")

    done = invoke("evidence", "--json")
    assert done.returncode == 0, done.stderr
    printed = json.loads(done.stdout)
    assert [(r["task"], r["model"], r["weights"]) for r in printed] == [
        ("capitals", "cloud-a", "snap-1"),
        ("capitals", "cloud-b", "snap-2"),  # new weights, no evidence: last
        ("geography", "cloud-a", "snap-1"),
    ]
    assert printed[0] == {
        "task": "capitals",
        "model": "cloud-a",
        "weights": "snap-1",
        "current": True,
        "stale": None,
        "since": None,
        "quality": {
            "source": "compare",
            "mean": 0.75,
            "low": printed[0]["quality"]["low"],
            "high": 1.0,
            "n": 4,
        },
        "arena": None,
        "speed": printed[0]["speed"],
    }
    assert set(printed[0]["speed"]) == {"calls", "latency_p50_s", "cost_per_call_usd"}
    assert printed[1]["quality"] is None and printed[2]["quality"]["mean"] == 1.0

    only = json.loads(invoke("evidence", "--task", "geography", "--json").stdout)
    assert [(r["task"], r["model"]) for r in only] == [("geography", "cloud-a")]
    every = json.loads(invoke("evidence", "--task", "capitals", "--all", "--json").stdout)
    assert [(r["model"], r["weights"], r["current"]) for r in every] == [
        ("cloud-a", "snap-1", True),
        ("cloud-b", "snap-1", False),
        ("cloud-b", "snap-2", True),
    ]

    shown = invoke("evidence", "--all")
    assert shown.returncode == 0, shown.stderr
    assert (
        "0.75 [" in shown.stdout
        and "snap-1 (stale: weights changed)" in shown.stdout
        and "no evidence yet" in shown.stdout
    )
    assert "no evidence yet for task 'poetry'" in invoke("evidence", "--task", "poetry").stdout
