"""Every scored answer in the stored runs, compare and eval alike, as one kind of record.

A compare answer's value is its score from its checks (:func:`~weighbridge.compare.results.cell_score`:
a failed call scores 0, a prompt without checks gives nothing); its task is the one its prompt
set names, else the prompt file's name without its extension. An eval answer's value is the
task's headline metric (the first it lists), as ``weighbridge eval`` reports it.

A re-run copies a finished answer from the cache into the new run instead of asking again, so
the same answer can stand in many runs: ``answer`` (the cell's content hash) lets the table
count it once. Only answers actually asked (``fresh``) date the weights a model had, and a copy
is dated by the ask it copies (``asked``): a re-run after a drift finding copies answers the
model gave before it, which are no evidence of what it answers now.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

from weighbridge.compare.cases import Case
from weighbridge.compare.results import Results, cell_score
from weighbridge.compare.runner import messages_for
from weighbridge.eval import stored
from weighbridge.evidence.rows import weights_of
from weighbridge.hashing import content_hash
from weighbridge.store import runs
from weighbridge.store.database import Connection

COMPARE, EVAL = "compare", "eval"


@dataclass(frozen=True)
class Answer:
    source: str
    task: str
    model: str
    weights: str
    #: What was asked, the same in every run that asked it (see :mod:`weighbridge.evidence.rows`).
    item: str
    #: The cell's content hash: the same answer, wherever it was copied.
    answer: str
    #: When this run stored (and scored) it.
    at: str
    value: float
    #: Asked in this run, not copied from an earlier one.
    fresh: bool
    #: When the model gave it: ``at`` if fresh, else when the copied answer was asked.
    asked: str


def answers(db: Connection) -> list[Answer]:
    """Every scored answer of every run in the store, oldest run first."""
    found: list[Answer] = []
    for run in runs.all_runs(db):
        cells = runs.cells(db, run.id)
        found.extend(_evaluated(run, cells) if stored.is_eval(run) else _compared(run, cells))
    return _dated(found)


def _dated(found: list[Answer]) -> list[Answer]:
    """A copy is dated by the newest ask of its answer before it (what the cache held then);
    where that run is gone, by the answer's oldest copy, the nearest to the ask that is left."""
    asks: dict[str, list[str]] = defaultdict(list)
    oldest: dict[str, str] = {}
    for a in found:
        if a.fresh:
            asks[a.answer].append(a.at)
        oldest[a.answer] = min(oldest.get(a.answer, a.at), a.at)
    return [
        a
        if a.fresh
        else replace(a, asked=max((t for t in asks[a.answer] if t <= a.at), default=oldest[a.answer]))
        for a in found
    ]


def task_of(run: runs.RunRow) -> str:
    """The compare run's task: what its prompt set names, else its file's name (``extraction``
    for ``prompts/extraction.jsonl``)."""
    return run.task or Path(run.source).stem


def _compared(run: runs.RunRow, cells: list[runs.CellRow]) -> Iterator[Answer]:
    results = Results(run, [Case.model_validate(c) for c in run.cases], cells)
    system = run.params.get("system")
    items = {case.id: _item(case, system) for case in results.cases}
    # A failed call reports no weights: it is charged to those its model answered with in this run.
    answered = {
        cell.model: weights_of(cell.weight_sha256, cell.upstream_model)
        for cell in sorted(cells, key=lambda c: c.created_at)
        if cell.ok
    }
    for cell in cells:
        score, _ = cell_score(cell, results.case(cell.prompt_id))
        weights = weights_of(cell.weight_sha256, cell.upstream_model) if cell.ok else answered.get(cell.model)
        if score is None or weights is None:
            continue
        yield Answer(
            COMPARE,
            task_of(run),
            cell.model,
            weights,
            items[cell.prompt_id],
            cell.hash,
            cell.created_at,
            score,
            not cell.cached,
            cell.created_at,
        )


def _item(case: Case, system: str | None) -> str:
    """What was asked (the messages as sent, system prompt included) and how the answer was
    checked: the same item in any prompt file, under any id."""
    checks = [check.model_dump(mode="json", exclude_none=True) for check in case.checks]
    return content_hash(
        {"messages": messages_for(case, system), "reference": case.reference, "checks": checks}
    )


def _evaluated(run: runs.RunRow, cells: list[runs.CellRow]) -> Iterator[Answer]:
    headline = {(r.model, r.task): r.metrics[0] for r in stored.from_cells(run, []).results if r.metrics}
    for cell in cells:
        task, _, item_id = cell.prompt_id.partition("/")
        metric = headline.get((cell.model, task))
        value = stored.outcome(cell, item_id).values.get(metric) if metric is not None else None
        weights = weights_of(cell.weight_sha256, cell.upstream_model)
        if value is None or weights is None:
            continue  # an item that could not be scored is left out, as eval's own scores leave it
        yield Answer(
            EVAL,
            task,
            cell.model,
            weights,
            cell.prompt_id,
            cell.hash,
            cell.created_at,
            value,
            not cell.cached,
            cell.created_at,
        )
