"""``weighbridge route simulate`` on evidence the real compare machinery made: compare runs on
scripted providers (test_table's client, tests/support/scripted.py) of known quality per task,
the cheap cloud-b right on every "easy" item, wrong on every "hard" one and on one "mixed" item in
four, the dearer cloud-a right on all, and arena votes recorded as the page records them. Every
figure is checked against one computed here from those known scores, the public split and the
module's stated formulas."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from itertools import pairwise
from pathlib import Path
from statistics import fmean
from typing import Any

import pytest

from tests.evidence import test_table as table_tests
from tests.support import scripted
from tests.support.cli import invoke
from tests.support.compare import Script, prompt_file, run
from tests.support.votes import answers, vote
from weighbridge.client import Client
from weighbridge.compare.stats import bootstrap_mean, paired_difference
from weighbridge.evidence import table
from weighbridge.evidence.simulate import SWEEP, held_out
from weighbridge.types import Usage

#: test_table's client on scripted providers.
client, providers = table_tests.client, table_tests.providers

A, B = "cloud-a", "cloud-b"  # $0.15/$0.60 and $0.05/$0.20 per M tokens
SIZES = {"easy": 12, "hard": 12, "mixed": 16}
ROUTES = """
[routes.smart]
strategy = "auto"
targets = [{ model = "cloud-a" }, { model = "cloud-b" }]

[routes.smart.auto]
min_items = 2

[routes.plain]
targets = [{ model = "cloud-a" }, { model = "cloud-b" }]

[routes.plain.auto]
min_items = 1000
default = "cloud-b"
"""
#: (task, prompt id of the answers voted on, model_a, outcome): cloud-b is model_b throughout.
VOTES = [
    ("hard", "hard0", "a"),
    ("hard", "hard1", "a"),
    ("hard", "hard2", "tie"),
    ("hard", "hard3", "b"),
    ("hard", "hard4", "a"),
    ("hard", "hard5", "both_bad"),
    ("easy", "easy0", "b"),
    ("easy", "easy1", "a"),
    ("easy", "easy2", "tie"),
    ("easy", "easy3", "b"),
]


def wrong(task: str, i: int) -> bool:
    """Whether cloud-b answers item ``i`` of ``task`` wrong."""
    return task == "hard" or (task == "mixed" and i % 4 == 0)


@pytest.fixture
def evidence(
    client: Client, providers: dict[str, scripted.Script], script: Script, home: Path, tmp_path: Path
) -> Iterator[dict[int, tuple[str, str]]]:
    """The three tasks compared on both models, and the votes: vote id -> (task, outcome)."""
    (home / "config.toml").write_text((home / "config.toml").read_text() + ROUTES)
    for model in (A, B):  # every call costs the same: 20 tokens in, 5 out
        providers[model].usage = Usage(prompt_tokens=20, completion_tokens=5)
    script.answers[A] = {"item": "yes"}
    script.answers[B] = {
        f"{task} item {i}?": "no" if wrong(task, i) else "yes" for task, n in SIZES.items() for i in range(n)
    }
    results = {}
    for task, n in SIZES.items():
        cases = [
            {
                "id": f"{task}{i}",
                "prompt": f"{task} item {i}?",
                "assert": [{"type": "icontains", "value": "yes"}],
            }
            for i in range(n)
        ]
        results[task] = run(client, prompt_file(tmp_path, cases, f"{task}.jsonl"), models=[A, B])
    yield {
        vote(client.store, answers(results[task], prompt_id, (A, B)), outcome, task=task, models=(A, B)): (
            task,
            outcome,
        )
        for task, prompt_id, outcome in VOTES
    }


def scores(client: Client) -> dict[str, dict[str, dict[str, float]]]:
    """task -> model -> item -> score, as the evidence holds them, checked against the script."""
    found: dict[str, dict[str, dict[str, float]]] = {}
    for row in table(client.store):
        assert row.current and row.quality is not None
        found.setdefault(row.task, {})[row.model] = dict(row.quality.items)
    for task, n in SIZES.items():
        assert sorted(found[task][A].values()) == [1.0] * n
        misses = sum(wrong(task, i) for i in range(n))
        assert sorted(found[task][B].values()) == [0.0] * misses + [1.0] * (n - misses)
        assert set(found[task][A]) == set(found[task][B])  # the same items: they pair
    return found


def expected(
    found: dict[str, dict[str, dict[str, float]]],
    cost: dict[str, float],
    cast: dict[int, tuple[str, str]],
    holdout: float,
    seed: int,
) -> dict[str, Any]:
    """Every figure, by hand: the split, the paired rule and the sweep's min_quality rule on the
    train items, the replay on the held-out ones, PGR and APGR as the module defines them."""
    tasks = sorted(found)
    held = {t: sorted(k for k in found[t][A] if held_out(k, holdout, seed)) for t in tasks}
    train = {t: sorted(k for k in found[t][A] if not held_out(k, holdout, seed)) for t in tasks}
    assert all(len(train[t]) >= 2 and held[t] for t in tasks)  # the split leaves both sides scored

    def train_of(t: str, model: str) -> dict[str, float]:
        return {k: found[t][model][k] for k in train[t]}

    def paired(t: str) -> str:
        """cloud-a is never worse: cloud-b is chosen when the paired interval includes 0."""
        _, interval, _ = paired_difference(train_of(t, A), train_of(t, B))
        return B if interval.contains(0.0) else A

    def replay(picks: dict[str, str]) -> dict[str, Any]:
        values = [found[t][picks[t]][k] for t in tasks for k in held[t]]
        interval = bootstrap_mean(sorted(values))
        return {
            "quality": fmean(values),
            "low": interval.low,
            "high": interval.high,
            "items": len(values),
            "cost_per_call_usd": fmean(cost[picks[t]] for t in tasks for _ in held[t]),
        }

    auto = {t: paired(t) for t in tasks}
    b_train = {t: fmean(train_of(t, B).values()) for t in tasks}  # cloud-a's is 1 on every task
    sweep = {q: {t: B if b_train[t] >= q else A for t in tasks} for q in SWEEP}
    best, cheapest = replay(dict.fromkeys(tasks, A)), replay(dict.fromkeys(tasks, B))
    policies = {
        "auto": replay(auto),
        "always-the-best": best,
        "always-the-cheapest": cheapest,
        **{q: replay(picks) for q, picks in sweep.items()},
    }
    for figures in policies.values():
        share = figures["cost_per_call_usd"] / best["cost_per_call_usd"]
        figures["quality_kept"] = figures["quality"] / best["quality"]
        figures["cost_share"], figures["cost_saved"] = share, 1 - share
        figures["pgr"] = (figures["quality"] - cheapest["quality"]) / (best["quality"] - cheapest["quality"])
    start = cheapest["cost_share"]
    points = sorted(
        [(start, 0.0), (1.0, 1.0)]
        + [
            (policies[q]["cost_share"], policies[q]["pgr"])
            for q in SWEEP
            if start <= policies[q]["cost_share"] <= 1
        ]
    )
    area = sum((x1 - x0) * (y0 + y1) / 2 for (x0, y0), (x1, y1) in pairwise(points))

    def votes_on(t: str) -> dict[str, Any]:
        side = "a" if auto[t] == A else "b"
        outcomes = [o for vote, (task, o) in cast.items() if task == t and held_out(str(vote), holdout, seed)]
        won = [1.0 if o == side else 0.5 if o in ("tie", "both_bad") else 0.0 for o in outcomes]
        return {"held_out": len(won), "won": fmean(won) if won else None}

    return {
        "auto": auto,
        "sweep": sweep,
        "held": {t: len(held[t]) for t in tasks},
        "train": {t: len(train[t]) for t in tasks},
        "policies": policies,
        "apgr": area / (1 - start),
        "votes": {t: votes_on(t) for t in tasks},
    }


def b_train_all(found: dict[str, dict[str, dict[str, float]]], holdout: float, seed: int) -> list[float]:
    """cloud-b's scores on every train item, all tasks pooled (cloud-a was scored on the same)."""
    return [v for t in sorted(found) for k, v in found[t][B].items() if not held_out(k, holdout, seed)]


def same(got: Any, want: Any, where: str = "") -> None:
    """``got`` is ``want``, numbers to the last few bits (a mean's sum may be taken in another order)."""
    if isinstance(want, dict):
        assert set(got) == set(want), where
        for key, value in want.items():
            same(got[key], value, f"{where}/{key}")
    elif isinstance(want, float):
        assert got == pytest.approx(want, rel=1e-9, abs=1e-15), where
    else:
        assert got == want, where


def figures_of(printed: dict[str, Any]) -> dict[str, Any]:
    """The printed figures in ``expected``'s shape."""
    keys = (
        "quality",
        "low",
        "high",
        "items",
        "cost_per_call_usd",
        "quality_kept",
        "cost_share",
        "cost_saved",
        "pgr",
    )
    return {
        "auto": {t["task"]: t["model"] for t in printed["tasks"]},
        "sweep": {p["min_quality"]: dict(p["picks"]) for p in printed["sweep"]},
        "held": {t["task"]: t["held_out_items"] for t in printed["tasks"]},
        "train": {t["task"]: t["train_items"][A] for t in printed["tasks"]},
        "policies": {
            **{name: {k: p[k] for k in keys} for name, p in printed["policies"].items()},
            **{p["min_quality"]: {k: p[k] for k in keys} for p in printed["sweep"]},
        },
        "apgr": printed["apgr"],
        "votes": {t["task"]: t["votes"] for t in printed["tasks"]},
    }


def test_the_replay_matches_the_known_scores_and_the_split(
    client: Client, evidence: dict[int, tuple[str, str]], tmp_path: Path
) -> None:
    found = scores(client)
    done = invoke("route", "simulate", "smart", "--json")
    assert done.returncode == 0, done.stderr
    printed = json.loads(done.stdout)
    assert set(printed) == {
        "route",
        "strategy",
        "rule",
        "holdout",
        "seed",
        "targets",
        "default",
        "best",
        "cheapest",
        "tasks",
        "policies",
        "sweep",
        "apgr",
        "notes",
    }
    assert (printed["route"], printed["strategy"], printed["holdout"], printed["seed"]) == (
        "smart",
        "auto",
        0.5,
        0,
    )
    assert (printed["best"], printed["cheapest"], printed["default"]) == (A, B, A)
    cost = {t["model"]: t["cost_per_call_usd"] for t in printed["targets"]}
    assert cost == {A: pytest.approx(6e-6), B: pytest.approx(2e-6)}  # 20 in, 5 out per call
    assert [t["train_quality"] for t in printed["targets"]] == [
        1.0,
        pytest.approx(fmean(b_train_all(found, 0.5, 0))),
    ]
    assert set(printed["policies"]) == {"auto", "always-the-best", "always-the-cheapest"}
    assert [p["min_quality"] for p in printed["sweep"]] == list(SWEEP)
    assert set(printed["tasks"][0]) == {
        "task",
        "model",
        "reason",
        "too_thin",
        "thin",
        "train_items",
        "held_out_items",
        "sweep",
        "votes",
    }
    assert printed["notes"] == []

    want = expected(found, cost, evidence, 0.5, 0)
    same(figures_of(printed), want)
    assert want["auto"]["easy"] == B and want["auto"]["hard"] == A  # what the scores make plain
    assert want["votes"]["hard"]["held_out"] + want["votes"]["easy"]["held_out"] > 0
    assert 0 < want["apgr"] <= 1
    assert all(not t["too_thin"] and t["reason"].startswith(t["task"] + ": ") for t in printed["tasks"])

    # another split: another seed and share, the same definitions
    again = invoke("route", "simulate", "smart", "--json", "--seed", "7", "--holdout", "0.4")
    assert again.returncode == 0, again.stderr
    same(figures_of(json.loads(again.stdout)), expected(found, cost, evidence, 0.4, 7))

    # one task, as a table: the policies, the APGR, and each task's choice with its reason
    shown = invoke("route", "simulate", "smart", "--task", "hard")
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert lines[0].startswith("route smart (auto): 1 task(s), 50% held out (seed 0); best cloud-a")
    assert any(line.split()[:2] == ["auto", A] for line in lines)
    # every rule picks cloud-a, the best: PGR 1 at cost share 1, the diagonal from the cheapest's
    assert any(line.startswith("APGR 0.50: ") for line in lines)
    assert any(line.startswith("hard: cloud-a answers; ") for line in lines)
    assert not any(line.startswith("note: ") for line in lines)


def test_thin_evidence_falls_to_the_default_target_on_a_route_not_yet_auto(
    client: Client, evidence: dict[int, tuple[str, str]]
) -> None:
    done = invoke("route", "simulate", "plain", "--json")
    assert done.returncode == 0, done.stderr
    printed = json.loads(done.stdout)
    assert printed["strategy"] == "ordered" and printed["default"] == B
    assert all(t["too_thin"] and t["model"] == B for t in printed["tasks"])
    assert "evidence too thin to choose" in printed["tasks"][0]["reason"]
    notes = printed["notes"]
    assert notes[0] == "route plain is 'ordered': simulated with its [routes.plain.auto] settings"
    assert [n for n in notes if "too thin" in n] == [
        f"{t}: evidence too thin to choose on; the default target cloud-b answers" for t in sorted(SIZES)
    ]
    auto, cheapest = printed["policies"]["auto"], printed["policies"]["always-the-cheapest"]
    assert auto["quality"] == cheapest["quality"] and auto["pgr"] == 0.0


def test_the_chart_is_a_png_or_an_svg(
    client: Client, evidence: dict[int, tuple[str, str]], tmp_path: Path
) -> None:
    png, svg = tmp_path / "curve.png", tmp_path / "curve.svg"
    assert invoke("route", "simulate", "smart", "--chart", str(png)).returncode == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert invoke("route", "simulate", "smart", "--json", "--chart", str(svg)).returncode == 0
    assert ET.parse(svg).getroot().tag == "{http://www.w3.org/2000/svg}svg"
    gif = invoke("route", "simulate", "smart", "--chart", str(tmp_path / "curve.gif"))
    assert gif.returncode == 2 and "FILE.png or FILE.svg" in gif.stderr


def test_an_unknown_route_and_no_evidence(client: Client, home: Path) -> None:
    (home / "config.toml").write_text((home / "config.toml").read_text() + ROUTES)
    unknown = invoke("route", "simulate", "nope")
    assert unknown.returncode == 2
    assert unknown.stderr == "error: unknown route 'nope' (the config's routes: plain, smart)\n"
    none = invoke("route", "simulate", "smart")
    assert none.returncode == 0, none.stderr
    assert none.stdout.startswith("no evidence to simulate route smart on: score its targets")
    assert "`weighbridge compare PROMPTS -m cloud-a -m cloud-b`" in none.stdout
    assert "`weighbridge eval`" in none.stdout and "`weighbridge ui`" in none.stdout
