"""The evidence as an auto route reads it on every request: from memory, refreshed off the
request's path when new results land.

Building the table reads every run, vote and logged call; a request cannot wait for that. So
the table is built once, kept, and each decision (per route, task and allowed targets) is
memoized on it: a request pays a dictionary lookup. A rebuild makes again every decision made
on the table it replaces before it takes its place. At most every ``check_s`` a background
thread asks the store whether anything that feeds quality changed (cells, judgements, votes,
drift checks: a few counts) or whether a call logged since the last check was answered by
weights other than its model's newest (which start from no evidence), and rebuilds if so;
every ``rebuild_s`` it rebuilds anyway, for the log's latency and cost. A request never waits
except for the very first table.

A target pinned in the lock file (``weighbridge pin``) is judged on the evidence of its pinned
weights or snapshot, which are what it will answer with; any other on its newest weights.

The classifier finds a request's task from the stored compare runs' prompts, each tagged with
its run's task: the task most of the nearest few (cosine similarity of a local model's
embeddings) have. Their embeddings are computed once per prompt and kept.
"""

from __future__ import annotations

import asyncio
import logging
import math
import threading
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from weighbridge import weights
from weighbridge.compare.cases import Case
from weighbridge.compare.runner import messages_for
from weighbridge.eval import stored
from weighbridge.evidence.answers import task_of
from weighbridge.evidence.choose import decide
from weighbridge.evidence.rows import Row, Speed, weights_of
from weighbridge.evidence.table import table
from weighbridge.hashing import digest
from weighbridge.routing.advice import Advice, Tagged
from weighbridge.routing.routes import Auto
from weighbridge.store import runs
from weighbridge.types import EmbeddingRequest, Message

if TYPE_CHECKING:
    from weighbridge.client import Client

log = logging.getLogger(__name__)

#: What quality evidence is made of: when none of these moved, the table has not.
_FINGERPRINT = (
    "SELECT (SELECT COUNT(*) FROM compare_cells), (SELECT MAX(created_at) FROM compare_cells), "
    "(SELECT COUNT(*) FROM compare_judgements), (SELECT COUNT(*) FROM arena_votes), "
    "(SELECT COUNT(*) FROM drift_checks)"
)
#: The nearest tagged prompts that vote on a request's task.
NEIGHBOURS = 5
#: Texts embedded per call while tagging the stored prompts.
_BATCH = 32


@dataclass
class Snapshot:
    """One reading of the table, and the decisions made on it."""

    rows: dict[tuple[str, str, str | None], Row]
    current: dict[str, str | None]
    speeds: dict[tuple[str, str | None], Speed]
    decisions: dict[tuple[str, str, tuple[str, ...]], Advice] = field(default_factory=dict)

    def row(self, task: str, model: str, pinned: str | None) -> Row:
        """``model``'s evidence on ``task``: that of its pinned weights if pinned, else of its
        newest; a model with none on the task has a row of its own saying so."""
        at = pinned if pinned is not None else self.current.get(model)
        found = self.rows.get((task, model, at))
        if found is not None:
            return found
        return Row(task, model, at, True, None, None, self.speeds.get((model, at)))


class EvidenceAdvisor:
    """What auto routes choose on, for one client (its store, its local models)."""

    def __init__(self, client: Client, *, check_s: float = 5.0, rebuild_s: float = 60.0) -> None:
        self.client = client
        self.check_s = check_s
        self.rebuild_s = rebuild_s
        lock = weights.read_lock(weights.lock_path())
        self.pinned: dict[str, str] = {}
        if lock is not None:
            self.pinned.update({m: s.upstream for m, s in lock.snapshots.items()})
            self.pinned.update({m: f"sha256:{p.sha256}" for m, p in lock.files.items()})
        self._snapshot: Snapshot | None = None
        self._fingerprint: tuple[object, ...] | None = None
        self._built = self._checked = 0.0
        self._seen = 0  # the last logged call looked at
        self._asked: dict[tuple[str, str, tuple[str, ...]], Auto] = {}
        self._lock = threading.Lock()
        self._refreshing = False
        self._prompts: tuple[tuple[object, ...] | None, list[tuple[str, str]]] | None = None
        self._vectors: dict[tuple[str, str], list[float]] = {}  # (model, text digest) -> vector

    def advise(self, route: str, task: str, rule: Auto, models: Sequence[str]) -> Advice:
        snapshot = self.snapshot()
        key = (route, task, tuple(models))
        advice = snapshot.decisions.get(key)
        if advice is None:
            self._asked[key] = rule
            advice = snapshot.decisions[key] = self._decide(snapshot, key, rule)
        return advice

    def _decide(self, snapshot: Snapshot, key: tuple[str, str, tuple[str, ...]], rule: Auto) -> Advice:
        _, task, models = key
        rows = [snapshot.row(task, model, self.pinned.get(model)) for model in models]
        return decide(task, rows, rule)

    def snapshot(self) -> Snapshot:
        """The table as last read; the first call reads it, later ones start a check when due."""
        if self._snapshot is None:
            with self._lock:
                if self._snapshot is None:
                    self.refresh(force=True)
        elif time.monotonic() - self._checked > self.check_s and not self._refreshing:
            self._refreshing = True
            threading.Thread(target=self._refresh_quietly, name="evidence-refresh", daemon=True).start()
        assert self._snapshot is not None
        return self._snapshot

    def refresh(self, *, force: bool = False) -> bool:
        """Read the table again if anything that feeds it changed (or ``force``); True if read."""
        store = self.client.store
        with store.connection() as db:
            fingerprint = tuple(db.execute(_FINGERPRINT).fetchone())
            if self._snapshot is None:  # the table about to be read covers the whole log
                logged = db.execute("SELECT MAX(rowid), NULL, NULL, NULL FROM inferences").fetchall()
            else:
                logged = db.execute(
                    "SELECT rowid, model, weight_sha256, upstream_model FROM inferences "
                    "WHERE rowid > ? AND status = 'ok' ORDER BY rowid",
                    (self._seen,),
                ).fetchall()
        self._checked = time.monotonic()
        self._seen = logged[-1][0] if logged and logged[-1][0] is not None else self._seen
        current = self._snapshot.current if self._snapshot is not None else {}
        moved = any(
            model in current and (w := weights_of(sha, upstream)) is not None and w != current[model]
            for _, model, sha, upstream in logged
        )
        due = self._checked - self._built > self.rebuild_s
        if not (force or due or moved) and fingerprint == self._fingerprint:
            return False
        found = table(store)
        rows = {(r.task, r.model, r.weights): r for r in found}
        newest = {r.model: r.weights for r in found if r.current}
        speeds = {(r.model, r.weights): r.speed for r in found if r.speed is not None}
        made = Snapshot(rows, newest, speeds)
        # the decisions asked for before are made again here, so no request waits for one
        made.decisions.update({key: self._decide(made, key, rule) for key, rule in list(self._asked.items())})
        self._snapshot = made
        self._fingerprint, self._built = fingerprint, self._checked
        return True

    def _refresh_quietly(self) -> None:
        """A background refresh: a store that fails now is asked again at the next check."""
        try:
            self.refresh()
        except Exception as exc:  # requests carry on with the evidence they have
            log.warning("could not refresh the evidence for auto routes: %s", exc)
            self._checked = time.monotonic()
        finally:
            self._refreshing = False

    async def classify(self, messages: Sequence[Message], model: str) -> Tagged | None:
        text = asked(messages)
        tagged = await self._tag_prompts(model)
        if not tagged or not text:
            return None
        [vector] = await self._embed(model, [text])
        nearest = sorted(((_cosine(vector, v), task) for task, v in tagged), reverse=True)[:NEIGHBOURS]
        weight: dict[str, float] = defaultdict(float)
        for similarity, near in nearest:
            weight[near] += max(similarity, 0.0)
        task = max(weight, key=lambda t: (weight[t], t))
        agree = sum(1 for _, t in nearest if t == task)
        return Tagged(
            task,
            f"found by {model}: {agree} of the {len(nearest)} nearest tagged prompts, "
            f"similarity {nearest[0][0]:.2f}",
        )

    async def _tag_prompts(self, model: str) -> list[tuple[str, list[float]]]:
        """Every stored compare prompt with its task and ``model``'s vector for it, embedding
        only those not seen before."""
        self.snapshot()
        if self._prompts is None or self._prompts[0] != self._fingerprint:
            self._prompts = (self._fingerprint, await asyncio.to_thread(_stored_prompts, self.client))
        prompts = self._prompts[1]
        missing = sorted({text for _, text in prompts if (model, digest(text)) not in self._vectors})
        for start in range(0, len(missing), _BATCH):
            await self._embed(model, missing[start : start + _BATCH])
        return [(task, self._vectors[(model, digest(text))]) for task, text in prompts]

    async def _embed(self, model: str, texts: list[str]) -> list[list[float]]:
        request = EmbeddingRequest(model=model, input=texts)
        answer = await self.client.aembed(request, source="route-classifier")
        for text, vector in zip(texts, answer.vectors, strict=True):
            self._vectors[(model, digest(text))] = vector
        return answer.vectors


def _stored_prompts(client: Client) -> list[tuple[str, str]]:
    """(task, text) for each distinct prompt of the stored compare runs, its text as
    :func:`asked` reads a request's."""
    found: set[tuple[str, str]] = set()
    with client.store.connection() as db:
        for run in runs.all_runs(db):
            if stored.is_eval(run):
                continue
            system = run.params.get("system")
            for raw in run.cases:
                messages = [Message.model_validate(m) for m in messages_for(Case.model_validate(raw), system)]
                found.add((task_of(run), asked(messages)))
    return sorted(found)


def asked(messages: Sequence[Message]) -> str:
    """What a request asks, for the classifier: its turns without the system prompt, which
    says who answers rather than what is asked."""
    return "\n".join(m.text() for m in messages if m.role not in ("system", "developer"))


def _cosine(a: list[float], b: list[float]) -> float:
    norm = math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
    return sum(x * y for x, y in zip(a, b, strict=True)) / norm if norm else 0.0
