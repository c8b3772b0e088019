"""LLM-as-judge: a rubric scored by any model, the local one included.

The judge is asked through the same client as the models under test (so its calls are
logged, priced and limited like theirs) at temperature 0, and each verdict is cached by the
hash of exactly what the judge was asked, so a re-run judges nothing twice. The full prompt
and the raw verdict are kept with the cell. A verdict with no score that can be read is
recorded as an error, never as a zero: a judge's failure is not the answer's.
"""

from __future__ import annotations

import json
import re
import time
from typing import Any

from weighbridge.client import Client
from weighbridge.compare import cellkey
from weighbridge.compare.cases import Case, Check
from weighbridge.compare.limits import Limits
from weighbridge.compare.scorers import Answer, Score, failed
from weighbridge.errors import WeighbridgeError
from weighbridge.store import runs

JUDGE_PARAMS: dict[str, Any] = {"temperature": 0.0, "max_tokens": 256}
SYSTEM = "You are a strict, impartial grader. You grade answers exactly as the rubric says."

_TEMPLATE = """Grade the ANSWER to the QUESTION against the RUBRIC.

QUESTION:
{question}
{reference}
ANSWER:
{answer}

RUBRIC:
{rubric}

Reply with one short sentence of reasoning, then the grade on the last line, written exactly as
SCORE: N
where N is a whole number from 0 (fails the rubric completely) to 10 (meets it fully)."""


class Asker:
    """Asks judge models, through the client, within the limits, cached in the store."""

    def __init__(self, client: Client, limits: Limits, *, use_cache: bool = True) -> None:
        self.client = client
        self.limits = limits
        self.use_cache = use_cache

    async def ask(
        self, model: str, messages: list[dict[str, Any]], max_tokens: int | None = None
    ) -> tuple[runs.Judgement, bool]:
        """The judge's raw verdict and whether it came from the cache; provider errors raise."""
        params = {**JUDGE_PARAMS, **({"max_tokens": max_tokens} if max_tokens else {})}
        request = self.client.request(messages, model, params)
        call = self.client.planner.calls(request, "compare-judge")[0]
        weights = await cellkey.identity(self.client.store, call.target)
        key = cellkey.cell_hash(call.target.model_id, weights, call.request, 0)
        if self.use_cache:
            with self.client.store.connection() as db:
                found = runs.judgement(db, key)
            if found is not None:
                return found, True
        async with self.limits.gate(call.target):
            started = time.perf_counter()
            response = await self.client.asend(request, source="compare-judge")
        judged = runs.Judgement(
            key,
            call.target.model_id,
            messages,
            response.content,
            response.cost_usd,
            time.perf_counter() - started,
        )
        with self.client.store.connection() as db:
            runs.save_judgement(db, judged)
        return judged, False


def judge_messages(rubric: str, case: Case, answer: str) -> list[dict[str, Any]]:
    reference = f"\nREFERENCE ANSWER (correct):\n{case.reference}\n" if case.reference is not None else ""
    user = _TEMPLATE.format(question=case.prompt_text(), reference=reference, answer=answer, rubric=rubric)
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}]


_SCORE_LINE = re.compile(
    r"score\s*(?:[:=]|is|of)?\s*\**\s*(-?\d+(?:\.\d+)?)(?:\s*(?:/|out of)\s*(\d+(?:\.\d+)?))?", re.I
)
_FRACTION = re.compile(r"(-?\d+(?:\.\d+)?)\s*(?:/|out of)\s*(\d+(?:\.\d+)?)", re.I)
_JSON_OBJECT = re.compile(r"\{[^{}]*\}")
_BARE = re.compile(r"\s*\**\s*(-?\d+(?:\.\d+)?)\s*\**\s*\.?\s*")


def parse_score(verdict: str, scale: float = 10.0) -> float | None:
    """The grade in a verdict as a fraction in [0, 1], or None when none can be read.

    Tried in order: a JSON object with "score"; the last "SCORE: N" (or "Score: N/10");
    the last "N/M" or "N out of M"; a verdict that is a bare number. A grade outside its
    scale is unreadable, not clipped.
    """
    for found in reversed(_JSON_OBJECT.findall(verdict)):
        try:
            data = json.loads(found)
        except json.JSONDecodeError:
            continue
        value = data.get("score") if isinstance(data, dict) else None
        if isinstance(value, int | float) and not isinstance(value, bool):
            return _fraction(float(value), scale)
    for pattern in (_SCORE_LINE, _FRACTION):
        matches = pattern.findall(verdict)
        if matches:
            value, out_of = matches[-1]
            return _fraction(float(value), float(out_of) if out_of else scale)
    bare = _BARE.fullmatch(verdict)
    if bare:
        return _fraction(float(bare.group(1)), scale)
    return None


def _fraction(value: float, scale: float) -> float | None:
    if scale <= 0 or not 0 <= value <= scale:
        return None
    return value / scale


async def judge(
    check: Check, answer: Answer, case: Case, asker: Asker, default_model: str
) -> tuple[Score, list[dict[str, Any]]]:
    """Score one answer by the rubric in ``check.value``; returns the score and the record of
    what the judge was asked and said."""
    model = check.model or default_model
    messages = judge_messages(str(check.value), case, answer.text)
    record: dict[str, Any] = {"check": check.label, "type": "judge", "model": model, "messages": messages}
    try:
        judged, cached = await asker.ask(model, messages, check.max_tokens)
    except WeighbridgeError as exc:
        record.update(verdict=None, error=exc.message)
        return failed(check, f"the judge {model} failed: {exc.message}"), [record]
    record.update(verdict=judged.verdict, cached=cached, cost_usd=judged.cost_usd)
    value = parse_score(judged.verdict)
    if value is None:
        record["error"] = "no score could be read from the verdict"
        return failed(check, f"the judge {model} gave no readable score"), [record]
    threshold = check.threshold if check.threshold is not None else 0.5
    reason = f"{model} graded {value * 10:g}/10 (pass at {threshold * 10:g})"
    return (
        Score(
            check=check.label,
            type=check.type,
            score=value,
            passed=value >= threshold,
            reason=reason,
            weight=check.weight,
        ),
        [record],
    )
