"""Local weight files: their sha256, computed once and cached, and the checks a file passes
before anything loads it (a loadable format, and the hash its pin in ``weighbridge.lock`` says).

Hashing a multi-gigabyte file takes seconds; a changed size or mtime means a changed file, so
those three identify a file version cheaply and the hash is only recomputed when they move.

While a lock exists, a local model whose file no longer hashes to its pin refuses to load
(:func:`pinned_sha256`, called where the client first hashes the weights, and before an engine
starts) unless ``WEIGHBRIDGE_ALLOW_UNPINNED=1`` (``--allow-unpinned``). A model the lock does
not name is allowed: a pin is a promise about what was pinned, not a whitelist. Only GGUF and
safetensors files are ever loaded: the other weight formats (``.bin``, ``.pt``, ``.ckpt``...)
are Python pickles, and loading a pickle runs whatever code it carries. Writing pins and
verifying them is ``weighbridge.own.pin``'s job.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from weighbridge.errors import ConfigError, ModelLoadError
from weighbridge.store import Store

_BLOCK = 1 << 20
LOCK_FILE = "weighbridge.lock"
LOCK_ENV = "WEIGHBRIDGE_LOCK"
ALLOW_ENV = "WEIGHBRIDGE_ALLOW_UNPINNED"
LOADABLE_SUFFIXES = (".gguf", ".safetensors")


@dataclass(frozen=True)
class FilePin:
    path: str
    sha256: str
    size: int


@dataclass(frozen=True)
class SnapshotPin:
    provider: str
    upstream: str


@dataclass
class Lock:
    files: dict[str, FilePin] = field(default_factory=dict)
    snapshots: dict[str, SnapshotPin] = field(default_factory=dict)
    pinned_at: str = ""

    def dumps(self) -> str:
        data = {
            "version": 1,
            "pinned_at": self.pinned_at,
            "files": {name: asdict(pin) for name, pin in sorted(self.files.items())},
            "snapshots": {name: asdict(pin) for name, pin in sorted(self.snapshots.items())},
        }
        return json.dumps(data, indent=2) + "\n"


def weight_sha256(store: Store, path: Path) -> str:
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    cached = store.cached_hash(*key)
    if cached is not None:
        return cached
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(_BLOCK):
            digest.update(block)
    sha = digest.hexdigest()
    store.save_hash(*key, sha)
    return sha


def lock_path(explicit: str | os.PathLike[str] | None = None) -> Path:
    chosen = explicit or os.environ.get(LOCK_ENV)
    return Path(chosen).expanduser() if chosen else Path.cwd() / LOCK_FILE


def read_lock(path: Path) -> Lock | None:
    """The lock at ``path``, or None when there is none (then nothing is enforced)."""
    try:
        data = json.loads(path.read_text("utf-8"))
        return Lock(
            files={name: FilePin(**pin) for name, pin in data.get("files", {}).items()},
            snapshots={name: SnapshotPin(**pin) for name, pin in data.get("snapshots", {}).items()},
            pinned_at=str(data.get("pinned_at", "")),
        )
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError, ValueError, TypeError, AttributeError) as exc:
        raise ConfigError(
            f"the lock file {path} is unreadable ({type(exc).__name__}): "
            "run 'weighbridge pin' to write it again"
        ) from None


def write_lock(path: Path, lock: Lock) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(lock.dumps(), "utf-8")
    os.replace(tmp, path)


def check_loadable(path: Path) -> None:
    """Refuse any weight format but GGUF and safetensors: the others are pickles."""
    if path.suffix.lower() not in LOADABLE_SUFFIXES:
        raise ModelLoadError(
            f"refusing to load {path}: only .gguf and .safetensors weights are loaded; "
            f"'{path.suffix or path.name}' files may be Python pickles, which run code when loaded. "
            "Convert the checkpoint to GGUF or safetensors first"
        )


def pinned_sha256(store: Store, model: str, path: Path) -> str:
    """The weight file's sha256, once it is known to be loadable and to match its pin."""
    check_loadable(path)
    sha = weight_sha256(store, path)
    if os.environ.get(ALLOW_ENV, "").lower() in ("1", "true", "yes"):
        return sha
    where = lock_path()
    lock = read_lock(where)
    if lock is None:
        return sha
    resolved = str(path.resolve())
    for name, pin in lock.files.items():
        if (name == model or pin.path == resolved) and pin.sha256 != sha:
            raise ModelLoadError(
                f"refusing to load model '{model}': its weight file {path} has sha256 {sha}, "
                f"but {where} pins '{name}' to sha256 {pin.sha256} ({pin.path}). "
                "If the change is intended, run 'weighbridge pin' to pin the new file; "
                f"to load it anyway, pass --allow-unpinned (or set {ALLOW_ENV}=1)"
            )
    return sha
