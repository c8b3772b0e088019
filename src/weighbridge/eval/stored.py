"""An evaluation as a stored run: the compare store's run and cells, so ``weighbridge runs``
lists it, ``weighbridge show`` shows it, and an interrupted one resumes from what it kept.

Each item answered is one cell (``<task>/<item id>``), written the moment its answer comes back:
its output is the record (what the model said, and the item's group and method), its scores
the item's value on each metric. The run's parameters say what was run, so the results are
rebuilt from the store alone.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from weighbridge.errors import InvalidRequestError
from weighbridge.eval.scores import Score, by_group
from weighbridge.store import Store, runs

#: A run's ``source``: what tells an evaluation from a compare run.
SOURCE = "eval"


@dataclass(frozen=True)
class Outcome:
    """One item answered: what the model said and what it scored."""

    id: str
    group: str
    record: dict[str, Any]
    values: dict[str, float]
    #: Copied from an earlier run that asked the same of the same weights.
    cached: bool = False
    error: str | None = None


@dataclass(frozen=True)
class Plan:
    """One model on one task, as the run's parameters keep it."""

    model: str
    task: str
    method: str
    shots: int
    metrics: tuple[str, ...]
    items: int


@dataclass
class TaskResult:
    model: str
    task: str
    method: str
    shots: int
    metrics: tuple[str, ...]
    outcomes: list[Outcome] = field(default_factory=list)

    def scores(self, metric: str) -> dict[str, Score]:
        """The metric per group, and over every answered item under ``""``."""
        return by_group((o.group, o.values[metric]) for o in self.outcomes if metric in o.values)

    @property
    def errors(self) -> int:
        return sum(1 for o in self.outcomes if o.error is not None)


@dataclass(frozen=True)
class EvalRun:
    id: str
    status: str
    created_at: str
    setup: dict[str, Any]
    results: list[TaskResult]


def new_run(run_id: str, models: list[str], setup: dict[str, Any], plans: list[Plan]) -> runs.RunRow:
    tasks = list(dict.fromkeys(p.task for p in plans))
    return runs.RunRow(
        id=run_id,
        created_at=runs.now(),
        status="running",
        source=SOURCE,
        description="eval: " + ", ".join(tasks),
        models=models,
        skipped={},
        params={"eval": {"setup": setup, "plans": [_plan_dict(p) for p in plans]}},
        samples=1,
        cases=[],
        owner=runs.this_process(),
    )


def cell(run_id: str, plan: Plan, outcome: Outcome, cell_hash: str, weights: str) -> runs.CellRow:
    """``weights`` is what was asked (:func:`~weighbridge.compare.cellkey.identity`): a local
    file's ``sha256:...`` or a service's ``provider:upstream``; a service's answer is filed
    under the snapshot that gave it where the record names one, as compare files it."""
    local = weights.startswith("sha256:")
    return runs.CellRow(
        run_id=run_id,
        model=plan.model,
        prompt_id=f"{plan.task}/{outcome.id}",
        sample=0,
        hash=cell_hash,
        cached=outcome.cached,
        output=None if outcome.error else json.dumps({"group": outcome.group, "record": outcome.record}),
        error=outcome.error,
        scores=[{"metric": m, "value": v} for m, v in outcome.values.items()],
        weight_sha256=weights.removeprefix("sha256:") if local else None,
        upstream_model=None if local else outcome.record.get("upstream_model") or weights.partition(":")[2],
    )


def outcome(found: runs.CellRow, item_id: str) -> Outcome:
    """A stored cell as an outcome (``item_id`` is the item's own id, without the task)."""
    if found.output is None:
        return Outcome(item_id, "", {}, {}, found.cached, found.error or "no answer")
    data = json.loads(found.output)
    values = {s["metric"]: float(s["value"]) for s in found.scores}
    return Outcome(item_id, data["group"], data["record"], values, found.cached)


def is_eval(run: runs.RunRow) -> bool:
    return run.source == SOURCE and "eval" in run.params


def items(run: runs.RunRow) -> int:
    """How many items the evaluation asks, over its tasks (per model)."""
    plans = run.params["eval"]["plans"]
    return sum(int(p["items"]) for p in plans) // max(1, len(run.models))


def load(store: Store, run_id: str) -> EvalRun:
    """The evaluation whose id is ``run_id`` or starts with it, rebuilt from the store."""
    with store.connection() as db:
        run = runs.find_run(db, run_id)
        found = runs.cells(db, run.id) if is_eval(run) else []
    if not is_eval(run):
        raise InvalidRequestError(f"run {run.id} is a compare run, not an evaluation")
    return from_cells(run, found)


def from_cells(run: runs.RunRow, found: list[runs.CellRow]) -> EvalRun:
    spec = run.params["eval"]
    results = {
        (p["model"], p["task"]): TaskResult(
            p["model"], p["task"], p["method"], p["shots"], tuple(p["metrics"])
        )
        for p in spec["plans"]
    }
    for stored in found:
        task, _, item_id = stored.prompt_id.partition("/")
        result = results.get((stored.model, task))
        if result is not None:
            result.outcomes.append(outcome(stored, item_id))
    for result in results.values():  # answered as they came; shown in the dataset's order
        result.outcomes.sort(key=lambda o: _natural(o.id))
    return EvalRun(run.id, run.status, run.created_at, spec["setup"], list(results.values()))


def _natural(text: str) -> list[tuple[int, int | str]]:
    """``HumanEval/10`` after ``HumanEval/9``: numbers compared as numbers."""
    return [(0, int(part)) if part.isdigit() else (1, part) for part in re.split(r"(\d+)", text) if part]


def _plan_dict(plan: Plan) -> dict[str, Any]:
    return {
        "model": plan.model,
        "task": plan.task,
        "method": plan.method,
        "shots": plan.shots,
        "metrics": list(plan.metrics),
        "items": plan.items,
    }
