"""A drift finding ends a model's evidence as changed weights do: what it answered, and the votes
cast on it, before ``weighbridge drift`` found it changed under the same name and snapshot id are
a stale row of their own, and the model starts again from no evidence. The store is real, the
compare runs and the canaries are answered by scripted providers (tests/support/scripted.py),
and the drift checks are recorded by drift's own ``run_drift``."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.evidence import test_table as table_tests
from tests.support.cli import invoke
from tests.support.compare import CAPITALS, Script, prompt_file, run
from tests.support.votes import answers, vote
from weighbridge.client import Client
from weighbridge.evidence import Row, table
from weighbridge.own.drift import DriftReport, load_canaries, run_drift

#: test_table's client on scripted providers, each answer reporting snapshot ``snap-1``.
client, providers = table_tests.client, table_tests.providers

SKY = "What colour is the sky on a clear day?"


@pytest.fixture
def drift(client: Client, script: Script, tmp_path: Path) -> Callable[..., DriftReport]:
    """A drift check of cloud-a, its one canary answered ``answer`` (``rebaseline``: retaken);
    the first call stores the baseline."""
    canary = tmp_path / "canary.jsonl"
    canary.write_text(json.dumps({"id": "sky", "prompt": SKY}) + "\n")

    def check(answer: str, *, rebaseline: bool = False) -> DriftReport:
        script.answers["cloud-a"] = {**script.answers["cloud-a"], "sky": answer}
        return run_drift(client, "cloud-a", load_canaries(canary), rebaseline=rebaseline)

    return check


BLUE = "The sky is blue."
MAUVE = "Mauve, with thin green stripes at dusk."


def cloud_a(client: Client) -> tuple[Row, list[Row]]:
    """cloud-a's current row on capitals, and its stale ones, oldest era first."""
    found = [r for r in table(client.store, task="capitals") if r.model == "cloud-a"]
    [current] = [r for r in found if r.current]
    return current, sorted((r for r in found if not r.current), key=lambda r: r.since or "")


def checks(client: Client) -> list[tuple[str, int]]:
    with client.store.connection() as db:
        return [tuple(r) for r in db.execute("SELECT created_at, changed FROM drift_checks ORDER BY id")]


def test_evidence_from_before_a_drift_finding_is_stale(
    client: Client, drift: Callable[..., DriftReport], tmp_path: Path
) -> None:
    run(client, prompt_file(tmp_path, CAPITALS, "capitals.jsonl"), models=["cloud-a", "cloud-b"])
    drift(BLUE)  # the baseline
    found = drift(MAUVE)  # the same snapshot id, other answers
    assert found.changed and found.now == found.then  # nothing but the answers says so
    [(at, changed)] = checks(client)
    assert changed == 1

    current, [old] = cloud_a(client)
    assert (current.weights, current.since, current.stale) == ("snap-1", at, None)
    assert current.quality is None and current.arena is None  # no evidence yet, as new weights
    assert (old.weights, old.since, old.current) == ("snap-1", None, False)
    assert old.stale == f"drift found {at[:10]}: {found.reasons[0]}"
    assert found.reasons[0].startswith("mean similarity")
    assert old.quality is not None and (old.quality.n, old.quality.mean) == (4, 0.75)
    assert current.speed == old.speed and current.speed is not None  # speed is per weights, not per era
    [b] = [r for r in table(client.store) if r.model == "cloud-b"]
    assert b.current and b.stale is None and b.quality is not None  # another model's finding

    printed = json.loads(invoke("evidence", "--json").stdout)
    shown = {(r["model"], r["since"]): r for r in printed}
    assert shown[("cloud-a", at)]["quality"] is None and shown[("cloud-a", at)]["stale"] is None
    assert ("cloud-a", None) not in shown
    every = json.loads(invoke("evidence", "--all", "--json").stdout)
    [stale] = [r for r in every if r["stale"] is not None]
    assert (stale["model"], stale["current"], stale["since"], stale["stale"]) == (
        "cloud-a",
        False,
        None,
        old.stale,
    )
    assert stale["quality"]["n"] == 4
    text = invoke("evidence", "--all")
    assert text.returncode == 0, text.stderr
    assert f"snap-1 (stale: drift found {at[:10]}: mean similarity" in text.stdout


def test_only_what_is_asked_after_the_finding_counts(
    client: Client, drift: Callable[..., DriftReport], tmp_path: Path
) -> None:
    path = prompt_file(tmp_path, CAPITALS, "capitals.jsonl")
    run(client, path)  # cloud-a: 3 of 4
    drift(BLUE)
    drift(MAUVE)
    run(client, path)  # from the cache: the answers given before the finding, copied
    current, [old] = cloud_a(client)
    assert current.quality is None
    assert old.quality is not None and (old.quality.n, old.quality.mean) == (4, 0.75)

    (tmp_path / "again").mkdir()
    again = prompt_file(tmp_path / "again", CAPITALS[:2], "capitals.jsonl")  # France, Germany
    run(client, again, use_cache=False)
    current, [old] = cloud_a(client)
    assert current.quality is not None and (current.quality.n, current.quality.mean) == (2, 1.0)
    assert set(current.quality.items) < set(old.quality.items)  # the same items, asked again
    assert old.quality is not None and (old.quality.n, old.quality.mean) == (4, 0.75)  # unchanged


def test_a_check_that_finds_nothing_makes_nothing_stale(
    client: Client, drift: Callable[..., DriftReport], tmp_path: Path
) -> None:
    run(client, prompt_file(tmp_path, CAPITALS, "capitals.jsonl"))
    drift(BLUE)
    assert not drift(BLUE).changed
    assert [changed for _, changed in checks(client)] == [0]
    rows = table(client.store)
    assert [(r.model, r.weights, r.since, r.stale) for r in rows] == [("cloud-a", "snap-1", None, None)]
    assert rows[0].current and rows[0].quality is not None and rows[0].quality.n == 4


def test_a_repeated_finding_is_the_same_one_until_the_baseline_is_retaken(
    client: Client, drift: Callable[..., DriftReport], tmp_path: Path
) -> None:
    path = prompt_file(tmp_path, CAPITALS, "capitals.jsonl")
    run(client, path)
    drift(BLUE)
    drift(MAUVE)
    run(client, path, use_cache=False)  # measured again after the finding: 3 of 4
    assert drift(MAUVE).changed  # still unlike the baseline: the change already found
    [(first, _), _] = checks(client)
    current, [_] = cloud_a(client)
    assert current.since == first and current.quality is not None and current.quality.n == 4

    drift(MAUVE, rebaseline=True)  # the changed model's answers are the new baseline
    drift(BLUE)  # and it changes again
    second = checks(client)[-1][0]
    current, [older, old] = cloud_a(client)
    assert (current.since, current.quality) == (second, None)
    assert (older.since, old.since) == (None, first)
    assert old.stale is not None and old.stale.startswith(f"drift found {second[:10]}: ")
    assert older.stale is not None and older.stale.startswith(f"drift found {first[:10]}: ")
    assert old.quality is not None and old.quality.n == 4


def test_votes_cast_before_the_finding_are_stale(
    client: Client, drift: Callable[..., DriftReport], tmp_path: Path
) -> None:
    first = run(client, prompt_file(tmp_path, CAPITALS, "capitals.jsonl"), models=["cloud-a", "cloud-b"])
    for outcome in ("a", "tie"):
        vote(client.store, answers(first, "fr"), outcome, task="capitals")
    drift(BLUE)
    drift(MAUVE)
    current, [old] = cloud_a(client)
    assert current.arena is None
    assert old.arena is not None and (old.arena.votes, old.arena.win_rate) == (2, 0.75)
    assert old.stale is not None and old.stale.startswith("drift found ")

    now_a = client.chat("Capital of France?", model="cloud-a")
    now_b = client.chat("Capital of France?", model="cloud-b")
    vote(
        client.store, (now_a.id, now_b.id), "b", task="capitals"
    )  # after the finding: the changed model's rating
    current, [old] = cloud_a(client)
    assert current.arena is not None and (current.arena.votes, current.arena.win_rate) == (1, 0.0)
    assert old.arena is not None and old.arena.votes == 2
    [b] = [r for r in table(client.store) if r.model == "cloud-b"]
    assert b.current and b.arena is not None and b.arena.votes == 3  # no finding of its own
