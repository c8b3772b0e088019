"""Runs against scripted providers (tests/support/scripted.py) answering by what they are
asked: cells stored as they finish, an interrupted run resumed without asking again what
finished (counted in the requests the providers were handed), failed cells asked again,
missing keys skipped, limits per provider, judge and pairwise. All of it sits above the
providers; the OpenAI wire a compare run goes over is tested in tests/providers."""

from __future__ import annotations

import asyncio
import csv
import itertools
import json
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from tests.support import scripted
from tests.support.compare import CAPITALS, MODELS, Reply, Script, config_text, prompt_file, run
from weighbridge.client import Client
from weighbridge.compare import html_report, promptset, runner
from weighbridge.compare.export import write_csv, write_json
from weighbridge.compare.recommend import recommend
from weighbridge.compare.results import Results
from weighbridge.compare.stats import summarise
from weighbridge.config import load_settings
from weighbridge.errors import InvalidRequestError, UnknownModelError
from weighbridge.providers.retry import RetryPolicy
from weighbridge.store import Store, runs
from weighbridge.types import Usage

#: What a real upstream reports with each answer: the dated snapshot that streamed it and its
#: token counts, and the judge's counts for a whole (unstreamed) verdict.
SNAPSHOT = "snap-2024-07-18"
STREAM_USAGE = Usage(prompt_tokens=20, completion_tokens=5)
JUDGE_USAGE = Usage(prompt_tokens=100, completion_tokens=10)


class Cloud:
    """The scripted providers behind the compare models (each model on a provider of its own),
    seen together as one upstream: what each was asked, in the shape of the request body a
    wire provider would have sent (its ``model``, parameters, and ``stream``)."""

    def __init__(self, respond: scripted.Respond) -> None:
        self.scripts = {
            model: scripted.script(provider, respond=respond) for model, (provider, _) in MODELS.items()
        }
        for model, made in self.scripts.items():
            made.upstream, made.usage = (
                ("judge-1", JUDGE_USAGE) if model == "judge" else (SNAPSHOT, STREAM_USAGE)
            )

    @property
    def respond(self) -> scripted.Respond | None:
        return self.scripts["cloud-a"].respond

    @respond.setter
    def respond(self, respond: scripted.Respond) -> None:
        for made in self.scripts.values():
            made.respond = respond

    @property
    def requests(self) -> list[dict[str, Any]]:
        """Every request, as a body: per model in arrival order, model after model."""
        return [
            request.model_dump(mode="json", exclude_none=True) | {"stream": streamed}
            for made in self.scripts.values()
            for request, streamed in zip(made.requests, made.streamed, strict=True)
        ]

    def asked(self, model: str) -> list[str]:
        """The last user message of each request for ``model``, in arrival order."""
        return self.scripts[model].asked()


@pytest.fixture
def cloud(scripts: dict[str, scripted.Script], script: Script) -> Cloud:
    """The compare models' providers, answering as ``script`` says."""
    return Cloud(script)


@pytest.fixture
def client(home: Path, cloud: Cloud) -> Iterator[Client]:
    home.mkdir(parents=True, exist_ok=True)
    config = home / "config.toml"
    config.write_text(config_text())
    with Client(load_settings(config), retry_policy=RetryPolicy(base_delay_s=0.01, max_attempts=1)) as made:
        yield made


def outputs(results: Results, model: str = "cloud-a") -> dict[str, str | None]:
    return {c.prompt_id: c.output for c in results.cells if c.model == model}


def test_cells_are_stored_scored_and_priced(
    client: Client, cloud: Cloud, script: Script, tmp_path: Path
) -> None:
    script.answers["cloud-a"] = {"France": "Paris.", "Germany": "Munich", "Italy": "Rome"}
    results = run(client, prompt_file(tmp_path, CAPITALS[:3]))
    assert results.run.status == "complete"
    assert outputs(results) == {"fr": "Paris.", "de": "Munich", "it": "Rome"}
    fr = results.cell("cloud-a", "fr")
    assert fr is not None and fr.scores[0]["passed"] and fr.scores[0]["type"] == "normalised-match"
    assert fr.upstream_model == "snap-2024-07-18" and fr.inference_id
    assert fr.cost_usd == pytest.approx((20 * 0.15 + 5 * 0.6) / 1e6)
    assert fr.ttft_s is not None and fr.latency_s is not None and fr.ttft_s <= fr.latency_s
    assert all(body["stream"] is True for body in cloud.requests)
    [s] = summarise(results)
    assert s.score == pytest.approx(2 / 3) and s.cost_per_1k == pytest.approx((20 * 0.15 + 5 * 0.6) / 1e3)
    [record] = [r for r in client.store.recent(10) if r.id == fr.inference_id]
    assert record.source == "compare"  # logged once, by the client


def interrupt(client: Client, path: Path, options: runner.RunOptions, until: Callable[[], bool]) -> None:
    """Start a compare run and cancel it, as Ctrl-C does, once ``until()`` holds."""

    async def interrupted() -> None:
        task = asyncio.create_task(runner.run(client, promptset.load(path), options))
        while not until() and not task.done():
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await client.aclose()

    asyncio.run(interrupted())


def test_an_interrupted_run_resumes_and_asks_nothing_that_finished(
    client: Client, cloud: Cloud, script: Script, tmp_path: Path
) -> None:
    path = prompt_file(tmp_path, CAPITALS)
    script.answers["cloud-a"] = {"France": "Paris", "Germany": "Berlin", "Italy": (200, "Rome", 30.0)}

    options = runner.RunOptions(models=["cloud-a"], concurrency=1)
    interrupt(client, path, options, lambda: len(cloud.requests) >= 3)  # France, Germany answered, Italy held
    with client.store.connection() as db:
        status, kept = db.execute(
            "SELECT r.status, count(c.prompt_id) FROM compare_runs r JOIN compare_cells c ON c.run_id = r.id "
            "GROUP BY r.status"
        ).fetchone()
    assert (status, kept) == ("interrupted", 2)
    assert cloud.asked("cloud-a") == ["Capital of France?", "Capital of Germany?", "Capital of Italy?"]

    script.answers["cloud-a"] = {"Italy": "Rome", "Spain": "Madrid"}  # France or Germany again: 500
    resumed = run(client, path)
    assert cloud.asked("cloud-a")[3:] in (
        ["Capital of Italy?", "Capital of Spain?"],
        ["Capital of Spain?", "Capital of Italy?"],
    )
    assert {c.prompt_id: c.cached for c in resumed.cells} == {
        "fr": True,
        "de": True,
        "it": False,
        "es": False,
    }
    assert outputs(resumed) == {"fr": "Paris", "de": "Berlin", "it": "Rome", "es": "Madrid"}
    assert resumed.run.status == "complete" and summarise(resumed)[0].score == 1.0


def test_a_run_cut_short_on_one_replica_resumes_on_another(
    cloud: Cloud, script: Script, tmp_path: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two machines (each its own home and config) on one PostgreSQL store: what the first
    finished before it was stopped, the second takes from the store instead of asking again."""
    monkeypatch.setenv("WEIGHBRIDGE_DATABASE_URL", pg_url)
    path = prompt_file(tmp_path, CAPITALS)
    script.answers["cloud-a"] = {"France": "Paris", "Germany": "Berlin", "Italy": (200, "Rome", 30.0)}

    def replica(name: str) -> Client:
        config = tmp_path / name / "config.toml"
        config.parent.mkdir()
        config.write_text(config_text())
        return Client(load_settings(config), retry_policy=RetryPolicy(base_delay_s=0.01, max_attempts=1))

    first = replica("one")

    def finished() -> int:
        with first.store.connection() as db:
            return int(
                db.execute("SELECT count(*) FROM compare_cells WHERE output IS NOT NULL").fetchone()[0]
            )

    interrupt(first, path, runner.RunOptions(models=["cloud-a"]), lambda: finished() >= 2)  # Italy held
    first.close()
    asked_first = len(cloud.asked("cloud-a"))
    script.answers["cloud-a"] = {"Italy": "Rome", "Spain": "Madrid"}  # France or Germany again: 500
    with replica("two") as second:
        resumed = run(second, path)
    assert sorted(cloud.asked("cloud-a")[asked_first:]) == ["Capital of Italy?", "Capital of Spain?"]
    assert {c.prompt_id: c.cached for c in resumed.cells} == {
        "fr": True,
        "de": True,
        "it": False,
        "es": False,
    }
    assert resumed.run.status == "complete" and summarise(resumed)[0].score == 1.0


def test_a_failed_cell_keeps_its_error_the_others_go_on_and_the_next_run_retries_it(
    client: Client, cloud: Cloud, script: Script, tmp_path: Path
) -> None:
    path = prompt_file(tmp_path, CAPITALS[:3])
    script.answers["cloud-a"] = {"France": "Paris", "Germany": (400, "bad things", 0.0), "Italy": "Rome"}
    first = run(client, path)
    errors = {c.prompt_id: c.error for c in first.cells}
    assert errors["fr"] is None and errors["it"] is None
    assert "400" in (errors["de"] or "") and "bad things" in (errors["de"] or "")
    assert summarise(first)[0].errors == 1

    script.answers["cloud-a"] = {"Germany": "Berlin"}
    second = run(client, path)
    assert cloud.asked("cloud-a")[3:] == ["Capital of Germany?"]
    assert {c.prompt_id: c.cached for c in second.cells} == {"fr": True, "de": False, "it": True}
    assert all(c.ok for c in second.cells)


def test_no_cache_asks_again_and_a_changed_parameter_is_a_new_cell(
    client: Client, cloud: Cloud, script: Script, tmp_path: Path
) -> None:
    path = prompt_file(tmp_path, CAPITALS[:1])
    script.answers["cloud-a"] = {"France": "Paris"}
    run(client, path)
    run(client, path, use_cache=False)
    run(client, path, params={"temperature": 0.5})
    run(client, path)  # the same as the first: from the cache
    assert len(cloud.requests) == 3
    assert cloud.requests[2]["temperature"] == 0.5


def test_a_model_without_its_key_is_skipped_with_the_variable_named(
    client: Client, cloud: Cloud, script: Script, tmp_path: Path
) -> None:
    script.answers["cloud-a"] = {"France": "Paris"}
    seen: list[tuple[str, str]] = []

    class Listener(runner.Progress):
        def skipped(self, model: str, why: str) -> None:
            seen.append((model, why))

    results = run(client, prompt_file(tmp_path, CAPITALS[:1]), Listener(), models=["locked", "cloud-a"])
    assert seen == [("locked", "set WB_TEST_LOCKED_KEY")]
    assert results.models == ["cloud-a"] and results.run.skipped == {"locked": "set WB_TEST_LOCKED_KEY"}
    with pytest.raises(InvalidRequestError, match="no model can run here: locked: set WB_TEST_LOCKED_KEY"):
        run(client, prompt_file(tmp_path, CAPITALS[:1]), models=["locked"])
    with pytest.raises(UnknownModelError, match="unknown model 'clod-a'"):
        run(client, prompt_file(tmp_path, CAPITALS[:1]), models=["clod-a"])
    judged = [
        {"prompt": "Capital of France?", "assert": [{"type": "judge", "value": "Paris", "model": "jugde"}]}
    ]
    asked_before = len(cloud.requests)
    with pytest.raises(UnknownModelError, match="unknown model 'jugde'"):  # before anything is asked
        run(client, prompt_file(tmp_path, judged, "judged.jsonl"))
    assert len(cloud.requests) == asked_before


def test_calls_to_one_provider_are_limited(
    client: Client, cloud: Cloud, script: Script, tmp_path: Path
) -> None:
    path = prompt_file(tmp_path, CAPITALS)
    seen: list[float] = []

    def slow(model: str, question: str) -> Reply:
        seen.append(time.monotonic())
        return (200, "x", 0.4)

    cloud.respond = slow
    run(client, path)  # default: 8 at once for an HTTP provider
    assert max(seen) - min(seen) < 0.4  # all four were in flight together
    seen.clear()
    run(client, path, concurrency=1, use_cache=False)
    assert all(b - a >= 0.35 for a, b in itertools.pairwise(seen))  # one after another


JUDGED = [
    {
        "id": "fr",
        "prompt": "Capital of France?",
        "assert": [{"type": "judge", "value": "Names Paris.", "model": "judge"}],
    },
    {
        "id": "de",
        "prompt": "Capital of Germany?",
        "assert": [{"type": "judge", "value": "Names Berlin.", "model": "judge"}],
    },
    {
        "id": "it",
        "prompt": "Capital of Italy?",
        "assert": [{"type": "judge", "value": "Names Rome.", "model": "judge"}],
    },
]


def test_judge_scores_keep_the_prompt_and_verdict_and_unreadable_verdicts_are_errors(
    client: Client, cloud: Cloud, script: Script, tmp_path: Path
) -> None:
    script.answers["cloud-a"] = {"France": "Paris", "Germany": "Munich", "Italy": "Rome"}
    script.answers["judge"] = {
        "Names Paris.": "It names Paris.\nSCORE: 8",
        "Names Berlin.": "Munich is not Berlin.\nSCORE: 1",
        "Names Rome.": "I cannot grade this.",
    }
    path = prompt_file(tmp_path, JUDGED)
    results = run(client, path)

    fr, de, it = (results.cell("cloud-a", p) for p in ("fr", "de", "it"))
    assert fr is not None and de is not None and it is not None
    assert (fr.scores[0]["score"], fr.scores[0]["passed"]) == (0.8, True)
    assert (de.scores[0]["score"], de.scores[0]["passed"]) == (0.1, False)
    assert it.scores[0]["score"] is None and it.scores[0]["error"]  # an error, not a zero
    [record] = it.judgements
    assert record["verdict"] == "I cannot grade this." and record["model"] == "judge"
    prompt = record["messages"][-1]["content"]
    assert "Capital of Italy?" in prompt and "Rome" in prompt and "Names Rome." in prompt
    judge_bodies = [b for b in cloud.requests if b["model"] == "judge"]
    assert len(judge_bodies) == 3 and all(b["temperature"] == 0 and not b.get("stream") for b in judge_bodies)
    assert {b["max_tokens"] for b in judge_bodies} == {256}  # the default budget of a judge
    [s] = summarise(results)
    assert s.score == pytest.approx(0.45) and s.check_errors == 1

    again = run(client, path)  # answers and verdicts both come from the store
    assert len(cloud.requests) == 6
    assert {c.prompt_id: c.scores[0]["score"] for c in again.cells} == {"fr": 0.8, "de": 0.1, "it": None}


def test_pairwise_asks_both_orders_and_cancels_position_bias(
    client: Client, cloud: Cloud, script: Script, tmp_path: Path
) -> None:
    rows = [
        {"id": "fr", "prompt": "Capital of France?", "assert": [{"type": "pairwise", "model": "judge"}]},
        {"id": "de", "prompt": "Capital of Germany?", "assert": [{"type": "pairwise", "model": "judge"}]},
    ]
    script.answers["cloud-a"] = {"France": "Paris.", "Germany": "Berlin."}
    script.answers["cloud-b"] = {"France": "I think Lyon.", "Germany": "Munich?"}

    def judge(model: str, question: str) -> Reply:
        first = question.split("ANSWER A:")[1].split("ANSWER B:")[0].strip()
        if "France" in question:  # a fair judge: Paris wins from either place
            return "Paris is right.\nWINNER: " + ("A" if first == "Paris." else "B")
        return "[[A]]"  # a biased judge: whatever it reads first

    cloud.respond = lambda model, question: (
        judge(model, question) if model == "judge" else script(model, question)
    )
    results = run(client, prompt_file(tmp_path, rows), models=["cloud-a", "cloud-b"])

    def pairwise(model: str, prompt: str) -> dict[str, Any]:
        cell = results.cell(model, prompt)
        assert cell is not None
        return next(s for s in cell.scores if s["type"] == "pairwise")

    assert pairwise("cloud-a", "fr")["score"] == 1.0 and pairwise("cloud-b", "fr")["score"] == 0.0
    assert "preferred in both orders" in pairwise("cloud-a", "fr")["reason"]
    assert pairwise("cloud-a", "de")["score"] == 0.5 == pairwise("cloud-b", "de")["score"]
    assert "position bias" in pairwise("cloud-b", "de")["reason"]
    cell = results.cell("cloud-a", "fr")
    assert cell is not None
    assert sorted((j["first"], j["winner"]) for j in cell.judgements) == [
        ("cloud-a", "cloud-a"),
        ("cloud-b", "cloud-a"),
    ]
    assert len(cloud.asked("judge")) == 4  # two prompts, both orders


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def test_the_html_report_is_self_contained_and_escapes_model_output(
    client: Client, script: Script, tmp_path: Path
) -> None:
    hostile = '<script>alert("pwned")</script><img src="https://evil.example/x.png">'
    script.answers["cloud-a"] = {"France": hostile}
    script.answers["cloud-b"] = {"France": "Paris"}
    results = run(client, prompt_file(tmp_path, CAPITALS[:1]), models=["cloud-a", "cloud-b"])
    summaries = summarise(results)
    html = html_report.render(results, summaries, recommend(results, summaries))
    parser = _Tags()
    parser.feed(html)
    names = [tag for tag, _ in parser.tags]
    assert "script" not in names and "img" not in names and "link" not in names and "iframe" not in names
    loading = [(tag, attrs) for tag, attrs in parser.tags if {"src", "href", "srcset", "action"} & set(attrs)]
    assert loading == []  # nothing is fetched from anywhere
    assert "@import" not in html and "url(" not in html
    assert "&lt;script&gt;alert(&#34;pwned&#34;)&lt;/script&gt;" in html  # shown, as text
    assert names.count("svg") == 2 and sum(1 for _, a in parser.tags if a.get("class") == "point") == 4


def test_json_and_csv_exports(client: Client, script: Script, tmp_path: Path) -> None:
    script.answers["cloud-a"] = {"France": "Paris", "Germany": "Bonn"}
    results = run(client, prompt_file(tmp_path, CAPITALS[:2]), concurrency=1)
    summaries = summarise(results)
    write_json(tmp_path / "run.json", results, summaries, recommend(results, summaries))
    data = json.loads((tmp_path / "run.json").read_text())
    assert data["run"]["id"] == results.run.id and len(data["cases"]) == 2
    assert {c["prompt_id"]: c["passed"] for c in data["cells"]} == {"fr": True, "de": False}
    assert data["summary"][0]["score"] == 0.5 and data["recommendation"]["best"] == "cloud-a"
    write_csv(tmp_path / "run.csv", results)
    with (tmp_path / "run.csv").open(encoding="utf-8", newline="") as f:
        rows = sorted(csv.DictReader(f), key=lambda r: r["prompt_id"])
    assert [(r["prompt_id"], r["output"], r["passed"]) for r in rows] == [
        ("de", "Bonn", "0"),
        ("fr", "Paris", "1"),
    ]
    assert json.loads(rows[0]["checks"])[0]["reason"] == "'bonn' is not 'berlin' once normalised"


def test_a_run_whose_process_was_killed_reads_as_interrupted(tmp_path: Path) -> None:
    killed = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    owner = f"{socket.gethostname()}:{killed.pid}:{runs._started(killed.pid)}"
    killed.kill()  # kill -9: the run never gets to write its end
    killed.wait()
    store = Store(tmp_path / "log.db")
    try:
        with store.connection() as db:
            for run_id, who in (("orphan", owner), ("alive", runs.this_process())):
                row = runs.RunRow(run_id, runs.now(), "running", "x.yaml", ["m"], {}, {}, 1, [], owner=who)
                runs.create_run(db, row)
            assert runs.find_run(db, "orphan").status == "interrupted"
            assert runs.find_run(db, "alive").status == "running"
            assert {r.id: r.status for r, _, _ in runs.recent_runs(db, 5)} == {
                "orphan": "interrupted",
                "alive": "running",
            }
    finally:
        store.close()
