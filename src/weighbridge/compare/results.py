"""A stored run as the views read it: the run, its cases and its cells, from the store alone.

``weighbridge compare`` and ``weighbridge show`` both build their views from this, so what a
run printed when it finished and what ``show`` prints a week later cannot disagree.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from weighbridge.compare.cases import Case
from weighbridge.store import Store, runs

#: The run parameter that says what the models made: ``image`` for a run of image models
#: (:mod:`weighbridge.compare.images`); a run of chat models has none.
MODALITY = "modality"


@dataclass(frozen=True)
class Results:
    run: runs.RunRow
    cases: list[Case]
    cells: list[runs.CellRow]

    @property
    def models(self) -> list[str]:
        return self.run.models

    @property
    def of_images(self) -> bool:
        """Whether the cells hold pictures (their sha256 in ``output``), not answers."""
        return self.run.params.get(MODALITY) == "image"

    def case(self, prompt_id: str) -> Case:
        return self._cases[prompt_id]

    @cached_property
    def _cases(self) -> dict[str, Case]:
        return {c.id: c for c in self.cases}

    def cell(self, model: str, prompt_id: str, sample: int = 0) -> runs.CellRow | None:
        return self._index.get((model, prompt_id, sample))

    @cached_property
    def _index(self) -> dict[tuple[str, str, int], runs.CellRow]:
        return {(c.model, c.prompt_id, c.sample): c for c in self.cells}


def load(store: Store, run_id: str) -> Results:
    """The run whose id is ``run_id`` or starts with it."""
    with store.connection() as db:
        run = runs.find_run(db, run_id)
        cells = runs.cells(db, run.id)
    return Results(run, [Case.model_validate(c) for c in run.cases], cells)


def cell_score(cell: runs.CellRow, case: Case) -> tuple[float | None, bool | None]:
    """One answer's score (the weighted mean of its checks' scores) and whether every check
    passed. A failed call scores 0 and fails; a check that could not be made (an unreadable
    verdict) fails the pass but is left out of the mean. ``(None, None)`` without checks."""
    if not case.checks:
        return None, None
    if not cell.ok:
        return 0.0, False
    passed = all(s["passed"] for s in cell.scores) if cell.scores else None
    made = [s for s in cell.scores if s["score"] is not None]
    if not made:
        return None, passed
    weight = sum(s["weight"] for s in made)
    if weight == 0:
        return sum(s["score"] for s in made) / len(made), passed
    return sum(s["score"] * s["weight"] for s in made) / weight, passed
