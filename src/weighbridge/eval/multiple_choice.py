"""Answering a multiple-choice task by log-likelihood, and its scores as lm-eval aggregates
them: the mean over questions (so a group's weight is its size, as lm-eval's ``mmlu`` group
weighs its subjects), per group and overall, with the standard error lm-eval reports."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from dataclasses import dataclass

from weighbridge.client import Client
from weighbridge.eval.loglikelihood import ChoiceScore, score_choices
from weighbridge.eval.tasks import TARGET_DELIMITER, MultipleChoiceTask, Question


@dataclass(frozen=True)
class Answered:
    question: Question
    scores: list[ChoiceScore]

    def chosen(self, metric: str) -> int:
        """``acc``: the most likely choice; ``acc_norm``: the most likely per character."""
        if metric == "acc_norm":
            values = [s.logprob / len(c) for s, c in zip(self.scores, self.question.choices, strict=True)]
        else:
            values = [s.logprob for s in self.scores]
        return max(range(len(values)), key=values.__getitem__)

    def correct(self, metric: str) -> bool:
        return self.chosen(metric) == self.question.target


@dataclass(frozen=True)
class Score:
    mean: float
    stderr: float
    n: int

    @property
    def interval(self) -> tuple[float, float]:
        """The 95% interval, clipped to [0, 1]."""
        return max(0.0, self.mean - 1.96 * self.stderr), min(1.0, self.mean + 1.96 * self.stderr)


async def answer(
    client: Client,
    model: str,
    task: MultipleChoiceTask,
    questions: list[Question],
    pool: list[Question],
    shots: int,
    *,
    concurrency: int = 8,
    done: Callable[[Answered], None] | None = None,
) -> list[Answered]:
    """Every question scored on ``model``, ``concurrency`` at a time, in the questions' order."""
    gate = asyncio.Semaphore(concurrency)

    async def one(question: Question) -> Answered:
        async with gate:
            prompt = task.prompt(question, task.shots_for(question, pool, shots))
            scores = await score_choices(
                client, model, prompt, [TARGET_DELIMITER + c for c in question.choices]
            )
        answered = Answered(question, scores)
        if done is not None:
            done(answered)
        return answered

    return list(await asyncio.gather(*(one(q) for q in questions)))


def scores(answered: list[Answered], metric: str) -> dict[str, Score]:
    """The metric per group, and over everything under ``""``."""
    groups: dict[str, list[bool]] = {"": []}
    for item in answered:
        hit = item.correct(metric)
        groups[""].append(hit)
        if item.question.group:
            groups.setdefault(item.question.group, []).append(hit)
    return {group: _score(hits) for group, hits in groups.items()}


def _score(hits: list[bool]) -> Score:
    """lm-eval's ``mean`` with its ``mean_stderr`` (sample standard deviation over sqrt(n))."""
    n = len(hits)
    mean = sum(hits) / n if n else 0.0
    variance = sum((h - mean) ** 2 for h in hits) / (n - 1) if n > 1 else 0.0
    return Score(mean, math.sqrt(variance / n) if n else 0.0, n)
