"""One revalidated run in numbers: the old model's score in the stored run, the new model's in
the run made again, and whether the new one is better, worse or cannot be told apart.

The verdict is compare's own paired test (:func:`weighbridge.compare.stats.paired_difference`,
as :mod:`weighbridge.compare.recommend` uses it): the bootstrap interval of the mean per-prompt
difference, over the prompts (or benchmark items) both models were scored on. Pairing removes
what the items share, so a replacement is judged on far fewer of them than two separate
intervals would need. Each side's own score and interval are the ones ``weighbridge show``
prints for that run: compare's bootstrap interval, eval's lm-eval standard error. A run of
image models scored by CLIP is weighed on CLIP too, in a row of its own: CLIP has no part in a
picture's score. A run with nothing scored says so, rather than showing empty numbers.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

from weighbridge.compare.image_report import check_means, check_scores
from weighbridge.compare.image_scores import CLIP
from weighbridge.compare.images import ImageOptions
from weighbridge.compare.recommend import Comparison
from weighbridge.compare.results import Results
from weighbridge.compare.stats import Interval, paired_difference, prompt_scores, summarise
from weighbridge.eval.stored import TaskResult

Verdict = Literal["better", "worse", "indistinguishable", "not comparable", "no scores"]


@dataclass(frozen=True)
class Side:
    """One model's figures in one stored run."""

    model: str
    run_id: str
    score: float | None
    interval: Interval | None
    #: USD per 1,000 prompts, from what each stored answer cost; None where any is unpriced
    #: (evaluations keep no cost per item).
    cost_per_1k: float | None
    #: Answers that failed: a failed compare answer scores 0, a failed item is left out, so a
    #: "worse" beside many of them says more about the model's endpoint than its answers.
    errors: int = 0


@dataclass(frozen=True)
class Revalidation:
    """A stored run that used the old model, against the same run made on the new one."""

    kind: Literal["compare", "eval"]
    #: What was run: the prompt set's source, or the task and its metric.
    what: str
    old: Side
    new: Side
    #: New minus old, paired over what both were scored on; None when they share nothing.
    difference: Comparison | None
    #: Why a side has no numbers, where the numbers alone would leave the reader guessing.
    note: str | None = None

    @property
    def verdict(self) -> Verdict:
        if self.old.score is None and self.new.score is None:
            return "no scores"
        if self.difference is None:
            return "not comparable"
        if self.difference.indistinguishable:
            return "indistinguishable"
        return "better" if self.difference.difference > 0 else "worse"

    @property
    def cost_change(self) -> float | None:
        """New minus old, USD per 1,000 prompts."""
        if self.old.cost_per_1k is None or self.new.cost_per_1k is None:
            return None
        return self.new.cost_per_1k - self.old.cost_per_1k


def of_compare(before: Results, old: str, after: Results, new: str) -> list[Revalidation]:
    """A compare run's old model against its re-run on the new one, prompt by prompt: on the
    score, and on CLIP for pictures that were scored by it (alone where it is all they were
    scored by)."""
    old_side, new_side = _compare_side(before, old), _compare_side(after, new)
    clip = ImageOptions.of_run(before.run).clip if before.of_images else None
    checked = any(case.checks for case in before.cases)
    rows = []
    if checked or clip is None:
        paired = _paired(prompt_scores(after, new), prompt_scores(before, old), new)
        note = None
        if not checked:
            no_clip = " and it had no CLIP model" if before.of_images else ""
            shown = f"'weighbridge show {after.run.id}' sets out what {new} made"
            note = f"its prompts have no checks{no_clip}: {shown}"
        rows.append(Revalidation("compare", before.run.source, old_side, new_side, paired, note))
    if clip is not None:
        rows.append(_of_clip(before, old_side, after, new_side, clip))
    return rows


def _of_clip(before: Results, old_side: Side, after: Results, new_side: Side, clip: Path) -> Revalidation:
    """The CLIP score's row: its mean over the prompts, as a fraction of 100 as the cells keep it."""
    rescored = ImageOptions.of_run(after.run).clip is not None
    return Revalidation(
        "compare",
        f"{before.run.source} {CLIP}",
        _check_side(before, old_side, CLIP),
        _check_side(after, new_side, CLIP),
        _paired(
            check_scores(after, new_side.model).get(CLIP, {}),
            check_scores(before, old_side.model).get(CLIP, {}),
            new_side.model,
        ),
        None if rescored else f"not scored again: {clip}, the CLIP model the run was scored by, is gone",
    )


def of_eval(before: TaskResult, before_id: str, after: TaskResult, after_id: str) -> Revalidation:
    """One task of an evaluation, old model against new, item by item, on the old run's first
    metric (its headline) where the new run has it too; the first one they share otherwise (a
    chat-only replacement is scored by generation, on ``acc`` alone)."""
    shared = [m for m in before.metrics if m in after.metrics]
    metric = shared[0] if shared else before.metrics[0]
    old_side, new_side = _eval_side(before, before_id, metric), _eval_side(after, after_id, metric)
    method = before.method if before.method == after.method else f"{before.method} -> {after.method}"
    what = f"{before.task} {metric} ({method})"
    if not shared:
        return Revalidation("eval", what, old_side, new_side, None)
    return Revalidation(
        "eval", what, old_side, new_side, _paired(_items(after, metric), _items(before, metric), after.model)
    )


def _compare_side(results: Results, model: str) -> Side:
    summary = next(s for s in summarise(results) if s.model == model)
    return Side(model, results.run.id, summary.score, summary.score_ci, summary.cost_per_1k, summary.errors)


def _check_side(results: Results, side: Side, check: str) -> Side:
    """``side`` on one check alone: its mean over the prompts and interval, the costs the same."""
    found = check_means(results, side.model).get(check)
    return replace(side, score=found[0] if found else None, interval=found[1] if found else None)


def _eval_side(result: TaskResult, run_id: str, metric: str) -> Side:
    score = result.scores(metric)[""]
    if not score.n:
        return Side(result.model, run_id, None, None, None, result.errors)
    return Side(result.model, run_id, score.mean, Interval(*score.interval), None, result.errors)


def _items(result: TaskResult, metric: str) -> dict[str, float]:
    return {o.id: o.values[metric] for o in result.outcomes if metric in o.values}


def _paired(new: dict[str, float], old: dict[str, float], model: str) -> Comparison | None:
    if not set(new) & set(old):
        return None
    difference, interval, count = paired_difference(new, old)
    return Comparison(model, difference, interval, count)
