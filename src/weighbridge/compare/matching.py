"""Comparing an answer with a reference: normalised text, numbers, token overlap.

The normalisation is SQuAD's (lower case, no punctuation, no articles, single spaces), the
one reading-comprehension scores have used since 2016, so "The Eiffel Tower." and "eiffel
tower" match and a reader can compare our F1 with published ones.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections import Counter
from typing import Any

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_NUMBER = re.compile(r"[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:[eE][-+]?\d+)?|[-+]?\.\d+")
_FENCE = re.compile(r"^```[a-zA-Z]*\s*\n(.*?)\n?```$", re.DOTALL)


def normalise(text: str) -> str:
    lowered = text.lower()
    no_punct = "".join(" " if unicodedata.category(ch).startswith("P") else ch for ch in lowered)
    return " ".join(_ARTICLES.sub(" ", no_punct).split())


def token_f1(answer: str, reference: str) -> float:
    """Harmonic mean of token precision and recall after normalisation."""
    got, want = normalise(answer).split(), normalise(reference).split()
    if not got or not want:
        return float(got == want)
    common = sum((Counter(got) & Counter(want)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(got), common / len(want)
    return 2 * precision * recall / (precision + recall)


def numbers(text: str) -> list[float]:
    """The numbers written in ``text``, thousands separators allowed ("1,200.5")."""
    return [float(m.replace(",", "")) for m in _NUMBER.findall(text)]


def as_number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        found = numbers(value)
        return found[0] if len(found) == 1 and _NUMBER.fullmatch(value.strip()) else None
    return None


def parse_json(text: str) -> tuple[Any, str | None]:
    """The JSON an answer holds, whole or inside one code fence; else the parser's complaint.

    Returns ``(value, None)`` or ``(None, problem)``; the note "in a code fence" is the caller's.
    """
    stripped = text.strip()
    try:
        return json.loads(stripped), None
    except json.JSONDecodeError as exc:
        fenced = _FENCE.match(stripped)
        if fenced:
            try:
                return json.loads(fenced.group(1)), None
            except json.JSONDecodeError as inner:
                return None, f"{inner.msg} at line {inner.lineno} column {inner.colno} (in the code fence)"
        return None, f"{exc.msg} at line {exc.lineno} column {exc.colno}"


def fenced(text: str) -> bool:
    return _FENCE.match(text.strip()) is not None


def excerpt(text: str, width: int = 60) -> str:
    flat = " ".join(text.split())
    return repr(flat if len(flat) <= width else flat[: width - 1] + "…")
