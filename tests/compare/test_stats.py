"""The interval arithmetic and the recommendation, on runs whose numbers are known."""

from __future__ import annotations

import random

import numpy as np
import pytest

from weighbridge.compare.cases import Case, Check
from weighbridge.compare.recommend import recommend
from weighbridge.compare.results import Results, cell_score
from weighbridge.compare.stats import bootstrap_mean, paired_difference, percentile, summarise
from weighbridge.store.runs import CellRow, RunRow


def test_bootstrap_of_a_constant_is_that_constant() -> None:
    interval = bootstrap_mean([0.7] * 30)
    assert interval.low == pytest.approx(0.7) and interval.high == pytest.approx(0.7)


def test_bootstrap_matches_the_normal_approximation_on_a_large_sample() -> None:
    values = [1.0] * 120 + [0.0] * 80  # p = 0.6, n = 200: standard error 0.0346
    interval = bootstrap_mean(values)
    assert interval.contains(0.6)
    half = 1.96 * (0.6 * 0.4 / 200) ** 0.5
    assert interval.low == pytest.approx(0.6 - half, abs=0.01)
    assert interval.high == pytest.approx(0.6 + half, abs=0.01)


def test_bootstrap_is_seeded() -> None:
    rng = random.Random(1)
    values = [rng.random() for _ in range(25)]
    assert bootstrap_mean(values) == bootstrap_mean(values)
    assert bootstrap_mean(values, seed=1) != bootstrap_mean(values, seed=2)


def test_bootstrap_covers_the_true_mean_about_95_percent_of_the_time() -> None:
    rng = np.random.default_rng(7)
    covered = sum(
        bootstrap_mean(list(rng.random(40)), resamples=500, seed=i).contains(0.5) for i in range(200)
    )
    assert 0.88 <= covered / 200 <= 0.99


def test_paired_difference_sees_what_separate_intervals_miss() -> None:
    rng = random.Random(3)
    difficulty = {f"p{i}": rng.random() for i in range(30)}
    a = {p: d for p, d in difficulty.items()}
    b = {p: d - 0.05 for p, d in difficulty.items()}  # always a bit worse, on prompts of any difficulty
    mean, interval, n = paired_difference(a, b)
    assert n == 30 and mean == pytest.approx(0.05)
    assert interval.low > 0  # separated when paired...
    assert bootstrap_mean(list(a.values())).contains(bootstrap_mean(list(b.values())).high)  # ...not apart


def test_paired_difference_uses_the_prompts_both_have() -> None:
    mean, _, n = paired_difference({"a": 1.0, "b": 0.0, "c": 1.0}, {"a": 0.0, "b": 0.0})
    assert n == 2 and mean == 0.5


def test_percentiles() -> None:
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.5
    assert percentile([float(i) for i in range(1, 101)], 95) == pytest.approx(95.05)
    assert percentile([], 50) is None


# -- runs built by hand -------------------------------------------------------------------


def make_results(
    table: dict[str, list[float | None]], costs: dict[str, float | None], latency: float = 1.0
) -> Results:
    """A run where ``table[model][i]`` is the model's score on prompt i (None: a failed call)."""
    n = len(next(iter(table.values())))
    cases = [
        Case(
            id=f"p{i}",
            messages=[{"role": "user", "content": f"q{i}"}],
            checks=[Check(type="contains", value="x")],
        )
        for i in range(n)
    ]
    cells = []
    for model, scores in table.items():
        for i, value in enumerate(scores):
            cell = CellRow(run_id="r", model=model, prompt_id=f"p{i}", sample=0, hash=f"{model}{i}")
            if value is None:
                cell.error = "upstream returned 500"
            else:
                cell.output, cell.latency_s, cell.ttft_s = "out", latency, latency / 4
                cell.prompt_tokens, cell.completion_tokens, cell.cost_usd = 10, 5, costs[model]
                cell.scores = [
                    {"check": "contains", "type": "contains", "score": value, "passed": value >= 0.5}
                    | {"reason": "", "error": None, "weight": 1.0}
                ]
            cells.append(cell)
    run = RunRow(
        id="r",
        created_at="2026-01-01T00:00:00+00:00",
        status="complete",
        source="t.jsonl",
        models=list(table),
        skipped={},
        params={},
        samples=1,
        cases=[c.model_dump(mode="json") for c in cases],
    )
    return Results(run, cases, cells)


def test_summary_figures() -> None:
    results = make_results({"big": [1, 1, 0, 1, None]}, {"big": 0.002})
    [s] = summarise(results)
    assert (s.prompts, s.answers, s.errors) == (5, 5, 1)
    assert s.score == pytest.approx(3 / 5)  # a failed call counts as 0
    assert s.pass_rate == pytest.approx(3 / 5)
    assert s.cost_usd == pytest.approx(0.008)
    assert s.cost_per_1k == pytest.approx(2.0)  # $0.002 an answer
    assert s.latency_p50 == 1.0 and s.ttft_p50 == 0.25
    assert (s.prompt_tokens, s.completion_tokens) == (40, 20)


def test_an_unreadable_check_fails_the_pass_but_is_not_a_zero() -> None:
    case = Case(
        id="p", messages=[{"role": "user", "content": "q"}], checks=[Check(type="contains", value="x")]
    )
    cell = CellRow(run_id="r", model="m", prompt_id="p", sample=0, hash="h", output="o")
    ok = {
        "check": "a",
        "type": "contains",
        "score": 1.0,
        "passed": True,
        "reason": "",
        "error": None,
        "weight": 1.0,
    }
    unreadable = ok | {"check": "judge", "score": None, "passed": False, "error": "no score"}
    cell.scores = [ok, unreadable]
    assert cell_score(cell, case) == (1.0, False)


def test_recommends_the_cheapest_model_that_cannot_be_told_from_the_best() -> None:
    rng = random.Random(5)
    best = [1.0 if rng.random() < 0.9 else 0.0 for _ in range(40)]
    close = [b if rng.random() < 0.93 else 1 - b for b in best]  # differs on a few prompts
    poor = [1.0 if rng.random() < 0.3 else 0.0 for _ in range(40)]
    results = make_results(
        {"frontier": best, "small": close, "tiny": poor}, {"frontier": 0.01, "small": 0.0004, "tiny": 0.0001}
    )
    summaries = summarise(results)
    rec = recommend(results, summaries)
    assert rec.best == "frontier" and rec.cheapest_equivalent == "small"
    assert not rec.too_few_prompts
    tiny = next(c for c in rec.comparisons if c.model == "tiny")
    assert not tiny.indistinguishable and tiny.interval.low > 0
    text = "\n".join(rec.lines)
    assert "Cheapest model statistically indistinguishable from the best: small" in text
    assert "of its cost ($0.40 vs $10.0000 per 1,000 prompts)" in text.replace("$0.4000", "$0.40")
    assert "frontier scores" in text and "over tiny" in text and "a real difference" in text
    assert rec.best_value == "tiny"  # most score per dollar, poor as it is: the line shows both
    assert "Best score per dollar: tiny, 0." in text and "below the best)." in text


def test_says_plainly_when_prompts_are_too_few() -> None:
    results = make_results({"a": [1, 1, 0, 1, 0], "b": [1, 0, 0, 1, 0]}, {"a": 0.01, "b": 0.001})
    rec = recommend(results, summarise(results))
    assert rec.too_few_prompts
    assert any(line.startswith("Caution: with 5 prompts the intervals are too wide") for line in rec.lines)


def test_a_clearly_better_model_is_recommended_even_when_dearer() -> None:
    results = make_results({"good": [1.0] * 30, "cheap": [0.0] * 30}, {"good": 0.01, "cheap": 0.0001})
    rec = recommend(results, summarise(results))
    assert rec.best == "good" and rec.cheapest_equivalent == "good"
    assert "No other model comes statistically close to good." in rec.lines
    assert not rec.too_few_prompts


def test_without_checks_there_is_nothing_to_recommend() -> None:
    results = make_results({"a": [1, 1]}, {"a": 0.001})
    bare = [c.model_copy(update={"checks": []}) for c in results.cases]
    rec = recommend(
        Results(results.run, bare, results.cells), summarise(Results(results.run, bare, results.cells))
    )
    assert rec.best is None and "add 'assert' entries or 'reference' answers" in rec.lines[0]
