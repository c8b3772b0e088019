"""Pins: the exact weights and snapshots a project runs on, so a change cannot pass unseen.

``weighbridge.lock`` (JSON; in the current directory, or ``--lock FILE``, or
``$WEIGHBRIDGE_LOCK``) holds the sha256, size and path of the local weights of every model in
use (a file, or a checkpoint folder and its LoRA adapter) and the upstream id of every remote
model in use. What is enforced at load time, and how
the lock file is read, is in :mod:`weighbridge.weights`; this module writes pins and checks
them.

The load check trusts the hash cache (path, size, mtime), as every call does; ``pin`` and
``verify`` read every byte, so a file edited with its mtime put back is still caught, and
they refresh the cache with what they find.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from weighbridge.config import Settings
from weighbridge.errors import MissingKeyError, ModelLoadError, UnknownModelError
from weighbridge.own.registry import registered_models
from weighbridge.store import Store
from weighbridge.targets import resolve
from weighbridge.weights import FilePin, Lock, SnapshotPin, weight_sha256, weight_size

#: A dated or numbered snapshot: 2025-08-07 / 20250514, a -0709 or -2407 tail, gemini's -001.
_SNAPSHOT = re.compile(r"(?:19|20)\d{2}-?[01]\d-?[0-3]\d|-\d{3,4}$|@\d+")


@dataclass(frozen=True)
class Check:
    """One row of ``weighbridge verify``."""

    model: str
    kind: Literal["file", "snapshot", "-"]
    pinned: str
    now: str
    status: str
    ok: bool


def models_in_use(settings: Settings, named: Sequence[str] = ()) -> list[str]:
    """The models a lock covers: those the config names (its models, routes and default),
    the registered ones, those ``named``, and when none is named every runnable local model."""
    names: list[str] = []
    if settings.config_path is not None:
        user = tomllib.loads(settings.config_path.read_text("utf-8"))  # already validated
        names += list(user.get("models", {}))
    names += [target.model for route in settings.routes.values() for target in route.targets]
    names.append(settings.default_model)
    names += list(registered_models(settings.home))
    names += list(named)
    if not named:
        names += [name for name in settings.catalog.models if _runnable_file(settings, name)]
    return [name for name in dict.fromkeys(names) if name not in settings.routes]


def pin(settings: Settings, store: Store, models: Iterable[str]) -> tuple[Lock, list[str]]:
    """A lock for ``models``, and a warning for each remote model pinned by a moving alias."""
    lock = Lock(pinned_at=datetime.now(UTC).isoformat(timespec="seconds"))
    warnings = []
    for name in models:
        local = _local_weights(settings, name)
        if local is not None:
            path, adapter = local
            lock.files[name] = FilePin(
                str(path.resolve()),
                weight_sha256(store, path, adapter, fresh=True),
                weight_size(path, adapter),
                str(adapter.resolve()) if adapter is not None else None,
            )
            continue
        snapshot = _snapshot(settings, name)
        lock.snapshots[name] = snapshot
        if not _SNAPSHOT.search(snapshot.upstream):
            warnings.append(
                f"{name}: '{snapshot.upstream}' is an alias, not a dated snapshot; {snapshot.provider} "
                "may move it to a new model without notice. Name a dated snapshot in your config "
                "to pin it, and watch it with 'weighbridge drift'"
            )
    return lock, warnings


def verify(settings: Settings, store: Store, lock: Lock, in_use: Iterable[str]) -> list[Check]:
    """Each pin checked against what the model runs on now, then the models in use unpinned."""
    checks = []
    for name, file_pin in lock.files.items():
        checks.append(_verify_file(settings, store, name, file_pin))
    for name, snap in lock.snapshots.items():
        try:
            now = _snapshot(settings, name)
        except UnknownModelError:
            checks.append(Check(name, "snapshot", _upstream(snap), "unknown model", "MISSING", False))
            continue
        same = now == snap
        alias = "" if _SNAPSHOT.search(now.upstream) else " (alias: may move)"
        status = "ok" + alias if same else "CHANGED"
        checks.append(Check(name, "snapshot", _upstream(snap), _upstream(now), status, same))
    pinned = set(lock.files) | set(lock.snapshots)
    for name in in_use:
        if name not in pinned:
            checks.append(Check(name, "-", "-", "-", "not pinned (allowed)", True))
    return checks


def _verify_file(settings: Settings, store: Store, name: str, pin: FilePin) -> Check:
    pinned = (Path(pin.path), Path(pin.adapter) if pin.adapter is not None else None)
    try:
        path, adapter = _local_weights(settings, name) or pinned
    except (MissingKeyError, ModelLoadError, UnknownModelError):  # gone: the pin says what was lost
        path, adapter = pinned
    missing = next((part for part in (path, adapter) if part is not None and not part.exists()), None)
    if missing is not None:
        return Check(name, "file", _short(pin.sha256), f"{missing} is missing", "MISSING", False)
    sha = weight_sha256(store, path, adapter, fresh=True)
    ok = sha == pin.sha256
    moved = "" if str(path.resolve()) == pin.path else f" (now {path})"
    return Check(name, "file", _short(pin.sha256), _short(sha) + moved, "ok" if ok else "CHANGED", ok)


def _runnable_file(settings: Settings, name: str) -> bool:
    try:
        return _local_weights(settings, name) is not None
    except (MissingKeyError, ModelLoadError, UnknownModelError):
        return False


def _local_weights(settings: Settings, name: str) -> tuple[Path, Path | None] | None:
    """The weight file or checkpoint folder ``name`` runs on, with its LoRA adapter if it has
    one; None for a model served over HTTP (or not at all)."""
    try:
        target = resolve(settings, name)
    except (MissingKeyError, ModelLoadError, UnknownModelError):
        if name.endswith(".gguf") or _serves_file(settings, name):
            raise
        return None
    return (target.weight_file, target.adapter) if target.weight_file is not None else None


def _serves_file(settings: Settings, name: str) -> bool:
    entry = settings.catalog.models.get(name)
    return entry is not None and all(option.file is not None for option in entry.serve)


def _snapshot(settings: Settings, name: str) -> SnapshotPin:
    """The upstream id a remote model runs on now; with no key set, the first it could use."""
    try:
        target = resolve(settings, name)
        return SnapshotPin(target.provider_name, target.upstream)
    except MissingKeyError:
        pass
    entry = settings.catalog.models.get(name)
    if entry is not None:
        for option in entry.serve:
            if option.model is not None:
                return SnapshotPin(option.provider, option.model)
        raise ModelLoadError(f"model '{name}' has no serve entry: nothing can run it")
    provider, _, upstream = name.partition("/")
    return SnapshotPin(provider, upstream)


def _upstream(pin: SnapshotPin) -> str:
    return f"{pin.provider}/{pin.upstream}"


def _short(sha: str) -> str:
    return sha[:16]
