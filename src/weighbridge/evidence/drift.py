"""Drift findings as the ends of evidence: what a model answered before ``weighbridge drift``
found it changed (:mod:`weighbridge.own.drift`) is not what it answers now, though its name and
weights id are the same, so that evidence stops counting for it.

A model's findings cut its time into eras: each starts at a finding (the drift check's time) and
ends at the next; before the first is the era ``None``. Evidence belongs to the era it was
answered in, and only the latest era's is current.

A check compares with the baseline the model first gave, so once the model has changed, every
later check reports the change again until the baseline is retaken (``--rebaseline``). Such a
repeat is the same finding, not a new one: were it a new era, what was measured after the
finding would go stale at every scheduled check. A changed check is a finding when the check
before it found nothing, or when the baseline was retaken since that check. A second change
seen against the same baseline cannot be told from the first: retake it after a finding.
"""

from __future__ import annotations

import json
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from weighbridge.store.database import Connection


@dataclass(frozen=True)
class Finding:
    #: The drift check's time: the era it starts.
    at: str
    #: The first reason the check gave.
    reason: str

    @property
    def stale(self) -> str:
        """Why what was answered before this finding is stale (:attr:`weighbridge.evidence.Row.stale`)."""
        return f"drift found {self.at[:10]}: {self.reason}"


class Eras:
    """Each model's findings, oldest first, and the era a time falls in."""

    def __init__(self, findings: Mapping[str, Sequence[Finding]]) -> None:
        self._findings = {model: list(found) for model, found in findings.items() if found}
        self._starts = {model: [f.at for f in found] for model, found in self._findings.items()}

    @classmethod
    def read(cls, db: Connection) -> Eras:
        """Every model's findings in the store (a check a day is a few thousand rows a decade)."""
        checks = db.execute(
            "SELECT model, created_at, changed, reasons FROM drift_checks ORDER BY model, created_at, id"
        ).fetchall()
        retaken = dict(
            db.execute("SELECT model, MAX(created_at) FROM drift_baselines GROUP BY model").fetchall()
        )
        findings: dict[str, list[Finding]] = defaultdict(list)
        previous: dict[str, tuple[str, bool]] = {}
        for model, at, changed, reasons in checks:
            before = previous.get(model)
            previous[model] = (at, bool(changed))
            if not changed:
                continue
            if before is not None and before[1] and not before[0] < retaken.get(model, "") <= at:
                continue  # the change already found, seen again against the same baseline
            findings[model].append(Finding(at, next(iter(json.loads(reasons)), "the answers changed")))
        return cls(findings)

    def since(self, model: str, at: str) -> str | None:
        """The era of what ``model`` answered at ``at``: the latest finding at or before it."""
        starts = self._starts.get(model, [])
        index = bisect_right(starts, at)
        return starts[index - 1] if index else None

    def latest(self, model: str) -> str | None:
        """The model's current era."""
        starts = self._starts.get(model)
        return starts[-1] if starts else None

    def ended(self, model: str, since: str | None) -> str | None:
        """Why the evidence of the era that began at ``since`` is stale: the finding that ended
        it; None for the current era."""
        starts = self._starts.get(model, [])
        index = 0 if since is None else bisect_right(starts, since)
        return self._findings[model][index].stale if index < len(starts) else None
