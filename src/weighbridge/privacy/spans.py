"""What a detector reports, and how overlapping reports become one answer.

Several detectors may claim the same characters (a key that also looks high-entropy, a user
term inside an email). The guard keeps one claim per character so that redaction replaces
each piece of text exactly once: the longest span wins, because it hides the most.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Span:
    """A piece of sensitive text: ``text == source[start:end]``, of kind ``kind``."""

    kind: str
    start: int
    end: int
    text: str


def span_at(kind: str, text: str, start: int, end: int) -> Span:
    """The span of ``text[start:end]``, so detectors never slice twice."""
    return Span(kind, start, end, text[start:end])


def from_match(kind: str, match: re.Match[str], group: int | str = 0) -> Span:
    """The span of one group (by number or name) of a regex match."""
    return Span(kind, match.start(group), match.end(group), match.group(group))


def resolve(spans: Iterable[Span], priority: dict[str, int]) -> list[Span]:
    """Non-overlapping spans in text order: longest first, then earliest, then by the kind's
    ``priority`` (lower wins; unknown kinds last)."""
    ranked = sorted(spans, key=lambda s: (s.start - s.end, s.start, priority.get(s.kind, len(priority))))
    starts: list[int] = []  # the taken spans, kept sorted by start
    taken: list[Span] = []
    for span in ranked:
        i = bisect.bisect_right(starts, span.start)
        free_before = i == 0 or taken[i - 1].end <= span.start
        free_after = i == len(taken) or span.end <= taken[i].start
        if span.end > span.start and free_before and free_after:
            starts.insert(i, span.start)
            taken.insert(i, span)
    return taken
