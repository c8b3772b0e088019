"""Drift canaries: fixed prompts at temperature 0, compared with the answers first recorded.

A closed provider can move an alias to a new snapshot, change a system prompt or a safety
layer, and say nothing; a local file can be swapped for another quantization. Either way the
same prompts at temperature 0 (seed 0 where the provider takes one; adapters drop it where it
has no counterpart) start giving different answers. The first run of a canary file stores
each answer as the baseline for that model; later runs compare:

* exact-match rate: the share of prompts answered character for character as before;
* similarity: ``difflib.SequenceMatcher.ratio`` of the two answers' characters, 1.0 when
  equal, per prompt and averaged, which shows how far answers moved, not only that they did;
* identity: the provider's reported model id and the local weight file's sha256, then and now.

A mean similarity below the threshold, or a changed identity, is reported as drift. Baseline
answers are stored in full whatever the log's retention: the comparison needs the text, and
canaries are probes written for this, not user data. Prompts added to the file later are
baselined on their first run; ``rebaseline`` starts the model's baseline over.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from weighbridge.client import Client
from weighbridge.errors import InvalidRequestError
from weighbridge.hashing import canonical_json, sha256_hex
from weighbridge.store import Store
from weighbridge.types import ChatResponse, Message, validation_message

SIMILARITY = "difflib ratio (characters)"


@dataclass(frozen=True)
class Canary:
    id: str
    messages: list[dict[str, Any]]
    sha256: str


@dataclass(frozen=True)
class PromptDrift:
    id: str
    output: str
    #: None when this run stored the prompt's first answer.
    baseline: str | None
    similarity: float | None

    @property
    def exact(self) -> bool:
        return self.baseline is not None and self.baseline == self.output


@dataclass(frozen=True)
class Identity:
    upstream_models: tuple[str, ...]
    weight_sha256s: tuple[str, ...]


@dataclass
class DriftReport:
    model: str
    threshold: float
    prompts: list[PromptDrift] = field(default_factory=list)
    then: Identity = Identity((), ())
    now: Identity = Identity((), ())
    reasons: list[str] = field(default_factory=list)

    @property
    def compared(self) -> list[PromptDrift]:
        return [p for p in self.prompts if p.baseline is not None]

    @property
    def baselined(self) -> int:
        return len(self.prompts) - len(self.compared)

    @property
    def exact_match_rate(self) -> float | None:
        compared = self.compared
        return sum(p.exact for p in compared) / len(compared) if compared else None

    @property
    def similarity(self) -> float | None:
        scores = [p.similarity for p in self.compared if p.similarity is not None]
        return sum(scores) / len(scores) if scores else None

    @property
    def changed(self) -> bool:
        return bool(self.reasons)


def load_canaries(path: Path) -> list[Canary]:
    """JSONL: one ``{"prompt": ...}`` or ``{"messages": [...]}`` per line, with an optional ``id``."""
    try:
        lines = path.read_text("utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidRequestError(f"cannot read the canary file {path}: {exc}") from None
    canaries: dict[str, Canary] = {}
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        canary = _canary(line, f"{path}:{number}")
        if canary.id in canaries:
            raise InvalidRequestError(f"{path}:{number}: id '{canary.id}' is used twice")
        canaries[canary.id] = canary
    if not canaries:
        raise InvalidRequestError(f"{path} has no canary prompts")
    return list(canaries.values())


def _canary(line: str, where: str) -> Canary:
    try:
        item = json.loads(line)
    except ValueError as exc:
        raise InvalidRequestError(f"{where}: not JSON ({exc})") from None
    if not isinstance(item, dict) or ("prompt" in item) == ("messages" in item):
        raise InvalidRequestError(f"{where}: each line needs exactly one of 'prompt' or 'messages'")
    raw = [{"role": "user", "content": item["prompt"]}] if "prompt" in item else item["messages"]
    try:
        if not isinstance(raw, list) or not raw:
            raise InvalidRequestError(f"{where}: 'messages' must be a non-empty list")
        messages = [Message.model_validate(m).model_dump(exclude_none=True) for m in raw]
    except ValidationError as exc:
        raise InvalidRequestError(f"{where}: {validation_message(exc)}") from None
    sha = sha256_hex(canonical_json(messages))
    return Canary(str(item.get("id") or sha[:12]), messages, sha)


def run_drift(
    client: Client,
    model: str,
    canaries: list[Canary],
    *,
    threshold: float = 0.9,
    rebaseline: bool = False,
    max_tokens: int = 64,
) -> DriftReport:
    """Ask every canary, compare with the stored baseline (storing any missing), and record it."""
    if not 0 <= threshold <= 1:
        raise InvalidRequestError(f"threshold must be between 0 and 1, not {threshold}")
    store = client.store
    if rebaseline:
        _forget(store, model)
    baselines = _baselines(store, model)
    for canary in canaries:
        known = baselines.get(canary.id)
        if known is not None and known["prompt_sha256"] != canary.sha256:
            raise InvalidRequestError(
                f"canary '{canary.id}' is not the prompt its baseline was taken with; "
                "give the new prompt a new id, or run with --rebaseline"
            )
    report = DriftReport(model, threshold)
    then: list[dict[str, Any]] = []
    answers: list[ChatResponse] = []
    for canary in canaries:
        response = client.chat(canary.messages, model=model, temperature=0.0, seed=0, max_tokens=max_tokens)
        known = baselines.get(canary.id)
        if known is None:
            _save_baseline(store, model, canary, response)
            report.prompts.append(PromptDrift(canary.id, response.content, None, None))
            continue
        ratio = difflib.SequenceMatcher(None, known["output"], response.content, autojunk=False).ratio()
        report.prompts.append(PromptDrift(canary.id, response.content, known["output"], ratio))
        then.append(known)
        answers.append(response)
    if report.compared:
        report.then = _identity((b["upstream_model"], b["weight_sha256"]) for b in then)
        report.now = _identity((r.upstream_model, r.weight_sha256) for r in answers)
        report.reasons = _reasons(report)
        _save_check(store, report)
    return report


def _reasons(report: DriftReport) -> list[str]:
    reasons = []
    similarity = report.similarity
    if similarity is not None and similarity < report.threshold:
        reasons.append(f"mean similarity {similarity:.3f} is below the threshold {report.threshold:g}")
    then, now = report.then, report.now
    if then.upstream_models != now.upstream_models:
        reasons.append(
            f"the provider's model id changed: {', '.join(then.upstream_models) or '-'} "
            f"-> {', '.join(now.upstream_models) or '-'}"
        )
    if then.weight_sha256s != now.weight_sha256s:
        reasons.append(
            f"the weights changed: sha256 {', '.join(s[:16] for s in then.weight_sha256s) or '-'} "
            f"-> {', '.join(s[:16] for s in now.weight_sha256s) or '-'}"
        )
    return reasons


def _identity(pairs: Iterable[tuple[str | None, str | None]]) -> Identity:
    upstreams, shas = set(), set()
    for upstream, sha in pairs:
        if upstream:
            upstreams.add(upstream)
        if sha:
            shas.add(sha)
    return Identity(tuple(sorted(upstreams)), tuple(sorted(shas)))


# -- store ------------------------------------------------------------------------------


def _baselines(store: Store, model: str) -> dict[str, dict[str, Any]]:
    columns = ("prompt_id", "prompt_sha256", "output", "upstream_model", "weight_sha256")
    with store.connection() as db:
        rows = db.execute(
            f"SELECT {', '.join(columns)} FROM drift_baselines WHERE model = ?", (model,)
        ).fetchall()
    return {row[0]: dict(zip(columns, row, strict=True)) for row in rows}


def _save_baseline(store: Store, model: str, canary: Canary, response: ChatResponse) -> None:
    with store.connection() as db:
        db.execute(
            "INSERT INTO drift_baselines (model, prompt_id, prompt_sha256, output, "
            "upstream_model, weight_sha256, created_at) VALUES (?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (model, prompt_id) DO UPDATE SET prompt_sha256 = excluded.prompt_sha256, "
            "output = excluded.output, upstream_model = excluded.upstream_model, "
            "weight_sha256 = excluded.weight_sha256, created_at = excluded.created_at",
            (
                model,
                canary.id,
                canary.sha256,
                response.content,
                response.upstream_model,
                response.weight_sha256,
                _now(),
            ),
        )


def _forget(store: Store, model: str) -> None:
    with store.connection() as db:
        db.execute("DELETE FROM drift_baselines WHERE model = ?", (model,))


def _save_check(store: Store, report: DriftReport) -> None:
    with store.connection() as db:
        db.execute(
            "INSERT INTO drift_checks (model, created_at, prompts, exact_match_rate, similarity, "
            "threshold, changed, reasons) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                report.model,
                _now(),
                len(report.compared),
                report.exact_match_rate,
                report.similarity,
                report.threshold,
                int(report.changed),
                json.dumps(report.reasons),
            ),
        )


def _now() -> str:
    return datetime.now(UTC).isoformat()
