"""``weighbridge route simulate ROUTE``: what ``strategy = "auto"`` would keep of the best target's
quality and save of its cost, replayed on evidence it did not choose on, before it is turned on.

A route's choice is only as good as the evidence it rests on, and judging it on that same
evidence would flatter it; so the evidence is split, auto chooses on one part and is scored on
the other, as RouteLLM reports a router (quality kept, cost saved, APGR). Exactly:

1. **Targets, rule, tasks.** The route's targets by the model id each resolves to (one that
   cannot resolve here, its key unset say, by its configured name), in the route's order; the
   rule is its ``[routes.NAME.auto]`` table whatever its strategy (the defaults where it has
   none), so a route can be checked before it is switched to auto. The tasks are those asked
   for, else ``auto.task``, else every task with quality evidence on at least two targets.
   Only current rows count: the weights (and drift era) auto is judged on. Exploration is left
   out: it is chance, not the choice.
2. **Split** (:func:`held_out`). An item, or a vote, is held out when
   ``int(sha256_hex(f"{seed}:{key}")[:16], 16) / 2**64 < holdout``, its key being the item key
   of :class:`~weighbridge.evidence.Quality` or the vote's id; the rest is train. A key falls on
   the same side for every target and every run of the command.
3. **Decisions.** Each task's rows are rebuilt from train evidence alone: the quality estimated
   from the train items as the table estimates it (:func:`~weighbridge.evidence.table.estimate`),
   the arena ratings refitted on the train votes between the targets, the speed and cost the
   log measured. :func:`~weighbridge.evidence.choose.decide` chooses on them with the route's
   rule, and again with each ``min_quality`` of :data:`SWEEP`. Where the evidence is too thin to
   choose, the route's default target answers (``auto.default``, else the first target).
4. **Replay.** Over the held-out items every target was scored on, all tasks pooled, each task's
   items answered by the model its policy picked for the task: quality ``Q`` is the mean of
   those scores (with compare's 95% bootstrap interval, on the values in sorted order) and cost
   ``C`` the mean of the answering models' cost per call (unknown if any of them has no priced
   call: never guessed). Always-the-best answers everything with the target of the highest
   mean over the train items every target was scored on (all tasks pooled; ties to the
   cheaper, then the route's order); always-the-cheapest with the target of the lowest cost per
   call (ties to the better, then the route's order). Then ``quality kept = Q / Q_best``,
   ``cost share = C / C_best``, ``cost saved = 1 - C / C_best`` and
   ``PGR = (Q - Q_cheapest) / (Q_best - Q_cheapest)``, the share of the gap between the cheapest
   and the best that is recovered, undefined where the two are equal.
5. **APGR.** Take the sweep's points ``(cost share, PGR)`` whose share is known and in
   ``[s0, 1]``, where ``s0 = C_cheapest / C_best``, add the ends ``(s0, 0)`` and ``(1, 1)``,
   sort by share (then PGR), and
   ``APGR = sum((s[i+1] - s[i]) * (g[i] + g[i+1]) / 2) / (1 - s0)``: the area under the
   piecewise-linear PGR curve over its width. Mixing the best and the cheapest at random scores
   0.5; the best's quality at the cheapest's cost scores 1. Undefined where ``s0`` is (a cost
   unknown) or 1, or PGR is.
6. **Votes.** The held-out arena votes on a task between its pick and another target, each side
   answered by the weights, and in the drift era, the evidence counts as current: how many,
   and the share the pick won (a tie, or both bad, is half).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from statistics import fmean

from weighbridge.compare.stats import bootstrap_mean
from weighbridge.config import Settings
from weighbridge.errors import InvalidRequestError, WeighbridgeError
from weighbridge.evidence.arena import answered_with
from weighbridge.evidence.choose import decide
from weighbridge.evidence.drift import Eras
from weighbridge.evidence.rows import Arena, Row, Speed
from weighbridge.evidence.table import estimate, table
from weighbridge.hashing import sha256_hex
from weighbridge.routing.advice import Advice
from weighbridge.routing.routes import Auto
from weighbridge.store import Store
from weighbridge.targets import resolve
from weighbridge.web import ratings, votes

#: The share of items (and votes) held out unless told otherwise.
HOLDOUT = 0.5
#: The ``min_quality`` rules the quality/cost curve is traced with.
SWEEP = (0.80, 0.85, 0.90, 0.95, 0.98, 1.0)
AUTO, BEST, CHEAPEST = "auto", "always-the-best", "always-the-cheapest"
SWEEP_LABEL = f"min_quality sweep {SWEEP[0]:.2f}-{SWEEP[-1]:.2f}"
#: Half a win: a tie, or both answers bad (as the arena's ratings count them).
_HALF = ("tie", "both_bad")


def held_out(key: str, share: float = HOLDOUT, seed: int = 0) -> bool:
    """Whether the item or vote ``key`` is held out. A hash rather than a draw, so a key falls on
    the same side for every target and every run, and ``seed`` gives another split."""
    return int(sha256_hex(f"{seed}:{key}")[:16], 16) / 2**64 < share


@dataclass(frozen=True)
class TaskReplay:
    task: str
    #: What decide said on the train evidence, with the route's rule.
    advice: Advice
    #: The model that answers the task: the advice's, else the route's default target.
    answered_by: str
    #: Each scored target's train items on the task.
    train: Mapping[str, int]
    #: The held-out items every target was scored on: what the task adds to the replay.
    held_out: int
    #: ``min_quality`` -> the model that answers the task under that rule.
    sweep: Mapping[float, str]
    #: Held-out votes between ``answered_by`` and another target, and the share it won.
    votes: int
    won: float | None


@dataclass(frozen=True)
class Policy:
    """One way of choosing, replayed on the held-out items; None where a figure is undefined."""

    name: str
    #: task -> the model that answers it
    picks: Mapping[str, str]
    items: int
    quality: float | None
    low: float | None
    high: float | None
    cost_per_call_usd: float | None
    #: Answering models with no priced call in the log: they leave the cost unknown.
    unpriced: tuple[str, ...]
    quality_kept: float | None
    cost_share: float | None
    cost_saved: float | None
    pgr: float | None
    #: The sweep's rule; None for auto, the best and the cheapest.
    min_quality: float | None = None


@dataclass(frozen=True)
class Simulation:
    route: str
    strategy: str
    rule: Auto
    targets: tuple[str, ...]
    default: str
    holdout: float
    seed: int
    #: Each target's cost per call in the log; None: no priced call.
    costs: Mapping[str, float | None]
    #: Each target's mean over the train items every target was scored on; None: no such item.
    train_quality: Mapping[str, float | None] = field(default_factory=dict)
    tasks: tuple[TaskReplay, ...] = ()
    best: str | None = None
    cheapest: str | None = None
    #: auto, always-the-best, always-the-cheapest (those there is evidence for).
    policies: tuple[Policy, ...] = ()
    sweep: tuple[Policy, ...] = ()
    apgr: float | None = None
    #: What the figures cannot say, and why: read beside them.
    notes: tuple[str, ...] = ()


def simulate(
    settings: Settings,
    store: Store,
    name: str,
    *,
    tasks: Sequence[str] = (),
    holdout: float = HOLDOUT,
    seed: int = 0,
) -> Simulation:
    """Route ``name`` replayed on the store's evidence (see the module); no tasks in the result
    means there is no evidence to replay."""
    route = settings.routes.get(name)
    if route is None:
        known = ", ".join(sorted(settings.routes)) or "none"
        raise InvalidRequestError(f"unknown route '{name}' (the config's routes: {known})")
    notes: list[str] = []
    if route.strategy != "auto":
        notes.append(f"route {name} is '{route.strategy}': simulated with its [routes.{name}.auto] settings")
    targets = tuple(dict.fromkeys(_model_id(settings, t.model, notes) for t in route.targets))
    rule = route.auto
    default = _model_id(settings, rule.default or route.targets[0].model, [])
    rows = [r for r in table(store) if r.current and r.model in targets]
    current = {r.model: r.weights for r in rows}
    speeds = {r.model: r.speed for r in rows if r.speed is not None}
    found: dict[str, dict[str, Row]] = defaultdict(dict)
    for r in rows:
        found[r.task][r.model] = r
    if tasks:
        wanted = list(dict.fromkeys(tasks))
    elif rule.task is not None:
        wanted = [rule.task]
    else:
        wanted = sorted(t for t, by in found.items() if sum(r.quality is not None for r in by.values()) >= 2)
    evidence = {t: found[t] for t in wanted if t in found}
    costs = {m: speeds[m].cost_per_call_usd if m in speeds else None for m in targets}
    if not evidence:
        where = f" for task {', '.join(wanted)}" if wanted else ""
        models = " ".join(f"-m {m}" for m in targets[:2])
        notes.append(
            f"no evidence to simulate route {name} on{where}: score its targets on the same prompts "
            f"(`weighbridge compare PROMPTS {models}`) or benchmarks (`weighbridge eval`), "
            "or vote between them on the arena page (`weighbridge ui`)"
        )
        return Simulation(
            name, route.strategy, rule, targets, default, holdout, seed, costs, notes=tuple(notes)
        )

    split = _Split(holdout, seed)
    counted = _votes(store, targets, current)
    replays = []
    for task, by in evidence.items():
        train = _train_rows(task, targets, by, current, speeds, counted, split)
        advice = decide(task, train, rule)
        answered_by = advice.model or default
        if advice.model is None:
            notes.append(f"{task}: evidence too thin to choose on; the default target {default} answers")
        sweep = {
            q: decide(task, train, rule.model_copy(update={"min_quality": q})).model or default for q in SWEEP
        }
        n_votes, won = _held_out_votes(counted, task, answered_by, split)
        scored = {r.model: r.quality.n for r in train if r.quality is not None}
        held = len(split.shared(by, targets, held=True))
        replays.append(TaskReplay(task, advice, answered_by, scored, held, sweep, n_votes, won))

    train_quality = _pooled(evidence, targets, split)
    best = _best(targets, train_quality, costs)
    cheapest = _cheapest(targets, train_quality, costs)
    replay = _Replay(evidence, targets, split, costs)
    raw = {AUTO: replay(AUTO, {r.task: r.answered_by for r in replays})}
    if best is None:
        notes.append("no train item was scored on every target: there is no best target to weigh against")
    else:
        raw[BEST] = replay(BEST, dict.fromkeys(evidence, best))
    if cheapest is None:
        notes.append("no target has a priced call in the log: there is no cheapest target")
    else:
        raw[CHEAPEST] = replay(CHEAPEST, dict.fromkeys(evidence, cheapest))
    if not raw[AUTO].values:
        notes.append(
            "no held-out item was scored on every target: score more items with every target "
            "(`weighbridge compare -m ...`) or hold out a larger share (--holdout)"
        )
    relative = _Relative(raw.get(BEST), raw.get(CHEAPEST))
    policies = tuple(relative(r) for r in raw.values())
    swept = tuple(
        relative(replay(f"min_quality {q:.2f}", {r.task: r.sweep[q] for r in replays}), min_quality=q)
        for q in SWEEP
    )
    apgr, why = _apgr(next((p for p in policies if p.name == CHEAPEST), None), swept)
    return Simulation(
        name,
        route.strategy,
        rule,
        targets,
        default,
        holdout,
        seed,
        costs,
        train_quality,
        tuple(replays),
        best,
        cheapest,
        policies,
        swept,
        apgr,
        tuple(notes + relative.notes() + ([f"APGR undefined: {why}"] if why else [])),
    )


def _model_id(settings: Settings, name: str, notes: list[str]) -> str:
    """The id the evidence knows a target by; its configured name when it cannot resolve here."""
    try:
        return resolve(settings, name).model_id
    except WeighbridgeError as exc:
        notes.append(f"target {name} cannot run here ({exc.message}): simulated by its configured name")
        return name


@dataclass(frozen=True)
class _Split:
    share: float
    seed: int

    def __call__(self, key: str) -> bool:
        return held_out(key, self.share, self.seed)

    def shared(self, by: Mapping[str, Row], targets: Sequence[str], *, held: bool) -> list[str]:
        """The items on one side of the split that every target was scored on."""
        scored = [set(_items(by.get(m))) for m in targets]
        return sorted(k for k in scored[0].intersection(*scored[1:]) if self(k) == held)


def _items(row: Row | None) -> Mapping[str, float]:
    return row.quality.items if row is not None and row.quality is not None else {}


def _votes(store: Store, targets: Sequence[str], current: Mapping[str, str | None]) -> list[votes.StoredVote]:
    """The votes between two targets whose answers came from the weights, in the drift era,
    that the evidence counts as current for each."""
    with store.connection() as db:
        eras = Eras.read(db)
        stored = votes.load(db)
        asked = [i for v in stored for i in (v.inference_a, v.inference_b) if i is not None]
        weights = answered_with(db, asked)

    def counts(model: str, inference: str | None, cast: str) -> bool:
        return (
            model in current
            and weights.get(inference or "") == current[model]
            and eras.since(model, cast) == eras.latest(model)
        )

    return [
        v
        for v in stored
        if v.model_a != v.model_b
        and v.model_a in targets
        and v.model_b in targets
        and counts(v.model_a, v.inference_a, v.created_at)
        and counts(v.model_b, v.inference_b, v.created_at)
    ]


def _train_rows(
    task: str,
    targets: Sequence[str],
    by: Mapping[str, Row],
    current: Mapping[str, str | None],
    speeds: Mapping[str, Speed],
    counted: Sequence[votes.StoredVote],
    split: _Split,
) -> list[Row]:
    """Each target's row on ``task`` as auto would read it, from the train evidence alone."""
    triples = [(v.model_a, v.model_b, v.outcome) for v in counted if v.task == task and not split(str(v.id))]
    rated = {
        r.model: Arena(r.rating, r.low, r.high, r.votes, r.wins / r.votes if r.votes else 0.0)
        for r in ratings.rate(triples)
    }
    rows = []
    for model in targets:
        row = by.get(model)
        scored = row.quality if row is not None else None
        train = {k: v for k, v in scored.items.items() if not split(k)} if scored is not None else {}
        quality = estimate(scored.source, train) if scored is not None and train else None
        rows.append(Row(task, model, current.get(model), True, quality, rated.get(model), speeds.get(model)))
    return rows


def _held_out_votes(
    counted: Sequence[votes.StoredVote], task: str, pick: str, split: _Split
) -> tuple[int, float | None]:
    """How many held-out votes on ``task`` set ``pick`` against another target, and its share won."""
    won, n = 0.0, 0
    for v in counted:
        if v.task != task or pick not in (v.model_a, v.model_b) or not split(str(v.id)):
            continue
        n += 1
        side = "a" if v.model_a == pick else "b"
        won += 1.0 if v.outcome == side else 0.5 if v.outcome in _HALF else 0.0
    return n, (won / n if n else None)


def _pooled(
    evidence: Mapping[str, Mapping[str, Row]], targets: Sequence[str], split: _Split
) -> dict[str, float | None]:
    """Each target's mean over the train items every target was scored on, all tasks pooled."""
    values: dict[str, list[float]] = {m: [] for m in targets}
    for by in evidence.values():
        for key in split.shared(by, targets, held=False):
            for model in targets:
                values[model].append(_score(by, model, key))
    return {m: fmean(v) if v else None for m, v in values.items()}


def _score(by: Mapping[str, Row], model: str, key: str) -> float:
    quality = by[model].quality
    assert quality is not None  # only items every target was scored on are asked for
    return quality.items[key]


def _best(
    targets: Sequence[str], quality: Mapping[str, float | None], costs: Mapping[str, float | None]
) -> str | None:
    def rank(m: str) -> tuple[float, bool, float, int]:
        return (-(quality[m] or 0.0), costs[m] is None, costs[m] or 0.0, targets.index(m))

    return min((m for m in targets if quality[m] is not None), key=rank, default=None)


def _cheapest(
    targets: Sequence[str], quality: Mapping[str, float | None], costs: Mapping[str, float | None]
) -> str | None:
    def rank(m: str) -> tuple[float, float, int]:
        q = quality[m]
        return (costs[m] or 0.0, -(q if q is not None else -1.0), targets.index(m))

    return min((m for m in targets if costs[m] is not None), key=rank, default=None)


@dataclass(frozen=True)
class _Raw:
    """A policy's answers on the held-out items, before it is weighed against the others."""

    name: str
    picks: dict[str, str]
    values: list[float]
    cost: float | None
    unpriced: tuple[str, ...]


@dataclass(frozen=True)
class _Replay:
    evidence: Mapping[str, Mapping[str, Row]]
    targets: Sequence[str]
    split: _Split
    costs: Mapping[str, float | None]

    def __call__(self, name: str, picks: dict[str, str]) -> _Raw:
        values: list[float] = []
        costs: list[float | None] = []
        for task, by in self.evidence.items():
            for key in self.split.shared(by, self.targets, held=True):
                values.append(_score(by, picks[task], key))
                costs.append(self.costs.get(picks[task]))
        unpriced = tuple(sorted({m for m in picks.values() if self.costs.get(m) is None}))
        known = [c for c in costs if c is not None]
        cost = fmean(known) if known and len(known) == len(costs) else None
        return _Raw(name, picks, values, cost, unpriced)


class _Relative:
    """Weighs a policy against the best and the cheapest, and remembers why a figure could not be."""

    def __init__(self, best: _Raw | None, cheapest: _Raw | None) -> None:
        self.best_q = fmean(best.values) if best is not None and best.values else None
        self.best_c = best.cost if best is not None else None
        self.cheap_q = fmean(cheapest.values) if cheapest is not None and cheapest.values else None

    def __call__(self, raw: _Raw, min_quality: float | None = None) -> Policy:
        q = fmean(raw.values) if raw.values else None
        interval = bootstrap_mean(sorted(raw.values)) if raw.values else None
        c = raw.cost
        share = c / self.best_c if c is not None and self.best_c else None
        gap = self.best_q - self.cheap_q if self.best_q is not None and self.cheap_q is not None else None
        return Policy(
            raw.name,
            raw.picks,
            len(raw.values),
            q,
            interval.low if interval else None,
            interval.high if interval else None,
            c,
            raw.unpriced,
            q / self.best_q if q is not None and self.best_q else None,
            share,
            1 - share if share is not None else None,
            (q - (self.cheap_q or 0.0)) / gap if q is not None and gap else None,
            min_quality,
        )

    def notes(self) -> list[str]:
        said = []
        if self.best_q is not None and self.cheap_q is not None and self.best_q == self.cheap_q:
            said.append(
                "PGR undefined: the best and the cheapest target score the same on the held-out items"
            )
        if self.best_q == 0:
            said.append("quality kept undefined: the best target scores 0 on the held-out items")
        if self.best_c is None and self.best_q is not None:
            said.append("cost saved undefined: the best target's cost per call is unknown")
        elif self.best_c == 0:
            said.append("cost saved undefined: the best target's calls cost nothing")
        return said


def _apgr(cheapest: Policy | None, sweep: Sequence[Policy]) -> tuple[float | None, str | None]:
    """The area under the sweep's PGR against cost share, over its width (see the module)."""
    start = cheapest.cost_share if cheapest is not None else None
    if cheapest is not None and not cheapest.items:
        return None, "no held-out item to replay"
    if cheapest is None or start is None:
        return None, "the cheapest's or the best's cost per call is unknown"
    if start >= 1:
        return None, "the cheapest target costs as much as the best"
    if cheapest.pgr is None:
        return None, "PGR is undefined"
    points = sorted(
        [(start, 0.0), (1.0, 1.0)]
        + [
            (p.cost_share, p.pgr)
            for p in sweep
            if p.cost_share is not None and p.pgr is not None and start <= p.cost_share <= 1
        ]
    )
    area = sum((b[0] - a[0]) * (a[1] + b[1]) / 2 for a, b in pairwise(points))
    return area / (1 - start), None
