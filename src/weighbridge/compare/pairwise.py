"""Pairwise preference: a judge picks the better of two models' answers to the same prompt.

Judges favour whichever answer they read first, so each pair is asked twice, once in each
order, and the two verdicts are averaged: an answer preferred in both orders wins (1), one
preferred only when it came first gets no credit for the position (0.5, a tie). A model's
pairwise score on a prompt is its mean over every other model it was compared with.
"""

from __future__ import annotations

import asyncio
import itertools
import re
from collections.abc import Callable
from typing import Any

from weighbridge.compare.cases import Case, Check
from weighbridge.compare.judge import SYSTEM, Asker
from weighbridge.compare.scorers import Score, failed
from weighbridge.errors import WeighbridgeError

DEFAULT_CRITERIA = "Which answer responds to the question more correctly, helpfully and clearly?"

_TEMPLATE = """Two assistants answered the same QUESTION. Decide which ANSWER is better.

QUESTION:
{question}
{reference}
ANSWER A:
{first}

ANSWER B:
{second}

CRITERIA:
{criteria}

Reply with one short sentence of reasoning, then the decision on the last line, written exactly as
WINNER: A
or WINNER: B, or WINNER: TIE when neither is better."""

_WINNER = re.compile(r"winner\s*(?:[:=]|is)?\s*\**\s*(?:answer\s+)?\b(A|B|TIE)\b", re.I)
_BRACKETS = re.compile(r"\[\[\s*(A|B|C|TIE)\s*\]\]", re.I)
_BETTER = re.compile(r"\b(?:answer|assistant)\s+(A|B)\s+is\s+(?:better|superior|preferred)", re.I)


def parse_winner(verdict: str) -> str | None:
    """``"A"``, ``"B"`` or ``"TIE"`` from a verdict, or None when it says none of them."""
    for pattern in (_WINNER, _BRACKETS, _BETTER):
        found = pattern.findall(verdict)
        if found:
            pick = found[-1].upper()
            return "TIE" if pick in ("C", "TIE") else pick
    bare = verdict.strip().strip(".*!\"' ").upper()
    return bare if bare in ("A", "B", "TIE") else None


def pair_messages(case: Case, first: str, second: str, criteria: str) -> list[dict[str, Any]]:
    reference = f"\nREFERENCE ANSWER (correct):\n{case.reference}\n" if case.reference is not None else ""
    user = _TEMPLATE.format(
        question=case.prompt_text(), reference=reference, first=first, second=second, criteria=criteria
    )
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}]


async def compare(
    check: Check, case: Case, answers: dict[str, str], asker: Asker, default_model: str
) -> dict[str, tuple[Score, list[dict[str, Any]]]]:
    """Each model's pairwise score on this prompt, and the judge records behind it."""
    if len(answers) < 2:
        only = "no model" if not answers else "one model"
        return {
            m: (failed(check, f"pairwise needs two models' answers; {only} answered"), []) for m in answers
        }
    judge_model = check.model or default_model
    criteria = str(check.value) if check.value else DEFAULT_CRITERIA
    pairs = list(itertools.combinations(sorted(answers), 2))
    results = await asyncio.gather(
        *(_pair(case, x, y, answers, criteria, judge_model, asker, check) for x, y in pairs)
    )
    credit: dict[str, list[float]] = {m: [] for m in answers}
    notes: dict[str, list[str]] = {m: [] for m in answers}
    records: dict[str, list[dict[str, Any]]] = {m: [] for m in answers}
    for (x, y), (x_credit, note, pair_records) in zip(pairs, results, strict=True):
        for model, other, mine in ((x, y, x_credit), (y, x, None if x_credit is None else 1 - x_credit)):
            records[model].extend(pair_records)
            notes[model].append(f"vs {other}: {note(model)}")
            if mine is not None:
                credit[model].append(mine)
    threshold = check.threshold if check.threshold is not None else 0.5
    scored: dict[str, tuple[Score, list[dict[str, Any]]]] = {}
    for model in answers:
        reason = "; ".join(notes[model])
        if not credit[model]:
            scored[model] = (failed(check, f"the judge gave no readable verdict ({reason})"), records[model])
            continue
        value = sum(credit[model]) / len(credit[model])
        score = Score(
            check=check.label,
            type=check.type,
            score=value,
            passed=value >= threshold,
            reason=reason,
            weight=check.weight,
        )
        scored[model] = (score, records[model])
    return scored


async def _pair(
    case: Case,
    x: str,
    y: str,
    answers: dict[str, str],
    criteria: str,
    judge_model: str,
    asker: Asker,
    check: Check,
) -> tuple[float | None, Callable[[str], str], list[dict[str, Any]]]:
    """Ask both orders; ``x``'s credit (None if neither verdict could be read), a describer
    of the outcome from either side, and the records of both questions."""
    orders = [(x, y), (y, x)]
    verdicts = await asyncio.gather(
        *(
            _ask(case, answers[a], answers[b], criteria, judge_model, asker, check.max_tokens)
            for a, b in orders
        )
    )
    outcomes: list[float | None] = []
    records = []
    for (first, second), (messages, verdict, error, cached) in zip(orders, verdicts, strict=True):
        winner = parse_winner(verdict) if verdict is not None else None
        if winner is None and error is None:
            error = "no winner could be read from the verdict"
        x_won = (
            None if winner is None else {"TIE": 0.5, "A": float(first == x), "B": float(second == x)}[winner]
        )
        outcomes.append(x_won)
        records.append(
            {
                "check": check.label,
                "type": "pairwise",
                "model": judge_model,
                "first": first,
                "second": second,
                "messages": messages,
                "verdict": verdict,
                "winner": {"A": first, "B": second}.get(winner or "", winner),
                "cached": cached,
                "error": error,
            }
        )
    read = [o for o in outcomes if o is not None]
    x_credit = sum(read) / len(read) if read else None

    def note(side: str) -> str:
        if not read:
            return "no readable verdict"
        mine = [o if side == x else 1 - o for o in read]
        if len(mine) == 2 and mine[0] == mine[1] == 1:
            return "preferred in both orders"
        if len(mine) == 2 and mine[0] == mine[1] == 0:
            return "the other preferred in both orders"
        if len(mine) == 2 and {mine[0], mine[1]} == {0.0, 1.0}:
            return "each preferred once: position bias, counted as a tie"
        if len(mine) == 1:
            return f"one order read only, credit {mine[0]:g}"
        return f"credit {sum(mine) / len(mine):g} over both orders"

    return x_credit, note, records


async def _ask(
    case: Case, first: str, second: str, criteria: str, judge_model: str, asker: Asker, max_tokens: int | None
) -> tuple[list[dict[str, Any]], str | None, str | None, bool]:
    messages = pair_messages(case, first, second, criteria)
    try:
        judged, cached = await asker.ask(judge_model, messages, max_tokens)
    except WeighbridgeError as exc:
        return messages, None, exc.message, False
    return messages, judged.verdict, None, cached
