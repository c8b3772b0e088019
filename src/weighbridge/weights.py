"""Local weights: their sha256, computed once and cached, and the checks they pass before
anything loads them (a loadable format, and the hash their pin in ``weighbridge.lock`` says).

Local weights are a GGUF file, a Hugging Face checkpoint folder (``config.json`` and
safetensors) or a diffusers pipeline folder (``model_index.json`` and a subfolder per
component), optionally with a LoRA adapter loaded on top: a peft adapter folder on a
checkpoint, a diffusers LoRA (a folder or one safetensors file) on a pipeline. A folder's sha256 is
taken over its files: one line ``NAME<TAB>SHA256`` per file (names relative to the folder,
sorted, hidden files left out), hashed; so renaming, adding, removing or changing any file
changes it. A model with an adapter is named by the sha256 of its base's and its adapter's
(:func:`weight_sha256`), so a new adapter on the same base is new weights.

Hashing a multi-gigabyte file takes seconds; a changed size or mtime means a changed file, so
those three identify a file version cheaply and the hash is only recomputed when they move.

While a lock exists, a local model whose file no longer hashes to its pin refuses to load
(:func:`pinned_sha256`, called where the client first hashes the weights, and before an engine
starts) unless ``WEIGHBRIDGE_ALLOW_UNPINNED=1`` (``--allow-unpinned``). A model the lock does
not name is allowed: a pin is a promise about what was pinned, not a whitelist. Only GGUF and
safetensors files are ever loaded: the other weight formats (``.bin``, ``.pt``, ``.ckpt``...)
are Python pickles, and loading a pickle runs whatever code it carries (a checkpoint folder is
loaded from its safetensors alone, whatever else it holds; a pipeline folder's components are
read by several libraries, each choosing its own files, so a pipeline folder holding a pickle
is refused whole). Writing pins and verifying them is
``weighbridge.own.pin``'s job.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from weighbridge.errors import ConfigError, ModelLoadError
from weighbridge.store import Store

LOCK_FILE = "weighbridge.lock"
LOCK_ENV = "WEIGHBRIDGE_LOCK"
ALLOW_ENV = "WEIGHBRIDGE_ALLOW_UNPINNED"
LOADABLE_SUFFIXES = (".gguf", ".safetensors")
PICKLE_SUFFIXES = (".bin", ".ckpt", ".pt", ".pth", ".pkl")
#: What makes a folder a Hugging Face checkpoint, and a peft adapter (weights in safetensors:
#: peft would fall back to a pickled ``adapter_model.bin``).
CHECKPOINT_CONFIG = "config.json"
ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors")
#: What makes a folder a diffusers pipeline, and the file a diffusers LoRA folder holds (what
#: ``load_lora_weights`` reads from a folder).
PIPELINE_INDEX = "model_index.json"
PIPELINE_ADAPTER = "pytorch_lora_weights.safetensors"


@dataclass(frozen=True)
class FilePin:
    """A local model's pinned weights: ``path`` a file or checkpoint folder, with ``adapter``
    the LoRA adapter folder on top (then ``sha256`` names both, as :func:`weight_sha256` does)."""

    path: str
    sha256: str
    size: int
    adapter: str | None = None


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
            "files": {name: _pin_data(pin) for name, pin in sorted(self.files.items())},
            "snapshots": {name: asdict(pin) for name, pin in sorted(self.snapshots.items())},
        }
        return json.dumps(data, indent=2) + "\n"


def _pin_data(pin: FilePin) -> dict[str, object]:
    """A pin as the lock writes it: ``adapter`` only where there is one."""
    return {key: value for key, value in asdict(pin).items() if key != "adapter" or value is not None}


def weight_sha256(store: Store, path: Path, adapter: Path | None = None, *, fresh: bool = False) -> str:
    """The sha256 that names a local model's weights: a file's own, a checkpoint folder's over
    its files, and with an ``adapter``, the sha256 of the base's and the adapter's. Each file's
    hash comes from the cache unless ``fresh``: then every byte is read (what ``pin`` and
    ``verify`` do, so a file edited with its mtime put back is still caught) and the cache
    refreshed with the answer."""
    sha = _sha256(store, path, fresh)
    if adapter is None:
        return sha
    both = f"base\t{sha}\nadapter\t{_sha256(store, adapter, fresh)}\n"
    return hashlib.sha256(both.encode()).hexdigest()


def weight_size(path: Path, adapter: Path | None = None) -> int:
    """How many bytes the weights (and the adapter) take on disk."""
    return sum(file.stat().st_size for part in (path, adapter) if part for _, file in _files(part))


def _folder_files(folder: Path) -> list[tuple[str, Path]]:
    """A checkpoint or adapter folder's files by name relative to it, sorted; hidden files (a
    ``.cache`` of the hub's, an editor's swap file) are no part of the weights."""
    found = []
    for file in folder.rglob("*"):
        name = file.relative_to(folder).as_posix()
        if file.is_file() and not any(part.startswith(".") for part in name.split("/")):
            found.append((name, file))
    return sorted(found)


def _files(path: Path) -> list[tuple[str, Path]]:
    return _folder_files(path) if path.is_dir() else [(path.name, path)]


def _sha256(store: Store, path: Path, fresh: bool) -> str:
    if not path.is_dir():
        return _file_sha256(store, path, fresh)
    lines = "".join(f"{name}\t{_file_sha256(store, file, fresh)}\n" for name, file in _folder_files(path))
    return hashlib.sha256(lines.encode()).hexdigest()


def _file_sha256(store: Store, path: Path, fresh: bool) -> str:
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    cached = None if fresh else store.cached_hash(*key)
    if cached is not None:
        return cached
    with path.open("rb") as f:
        sha = hashlib.file_digest(f, "sha256").hexdigest()
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


def check_loadable(path: Path, adapter: Path | None = None) -> None:
    """Refuse any weight format but GGUF and safetensors (the others are pickles), a folder
    that is neither a Hugging Face checkpoint nor a diffusers pipeline (or one holding pickles),
    and an ``adapter`` that is not the kind its base takes."""
    pipeline = (path / PIPELINE_INDEX).is_file()
    if path.is_dir():
        if not pipeline and not (path / CHECKPOINT_CONFIG).is_file():
            raise ModelLoadError(
                f"{path} is a folder without {CHECKPOINT_CONFIG} or {PIPELINE_INDEX}: "
                "neither a Hugging Face checkpoint nor a diffusers pipeline"
            )
        if not any(path.glob("*/*.safetensors" if pipeline else "*.safetensors")):
            raise ModelLoadError(f"{path} has no .safetensors weights (other formats are never loaded)")
        if pipeline and (pickles := _pickles(path)):
            raise ModelLoadError(
                f"refusing to load the pipeline {path}: it holds {', '.join(pickles)}, Python pickles, "
                "which run code when loaded. Delete them and keep the .safetensors beside them "
                "(or convert them to safetensors first)"
            )
    elif path.suffix.lower() not in LOADABLE_SUFFIXES:
        raise ModelLoadError(
            f"refusing to load {path}: only .gguf and .safetensors weights are loaded; "
            f"'{path.suffix or path.name}' files may be Python pickles, which run code when loaded. "
            "Convert the checkpoint to GGUF or safetensors first"
        )
    if adapter is None:
        return
    if pipeline and not (adapter.suffix.lower() == ".safetensors" or (adapter / PIPELINE_ADAPTER).is_file()):
        raise ModelLoadError(
            f"{adapter} is not a diffusers LoRA: it needs to be a .safetensors file or a folder "
            f"holding {PIPELINE_ADAPTER}"
        )
    if not pipeline and not all((adapter / name).is_file() for name in ADAPTER_FILES):
        raise ModelLoadError(f"{adapter} is not a peft LoRA adapter: it needs {' and '.join(ADAPTER_FILES)}")


def _pickles(folder: Path) -> list[str]:
    return [name for name, file in _folder_files(folder) if file.suffix.lower() in PICKLE_SUFFIXES]


def pinned_sha256(store: Store, model: str, path: Path, adapter: Path | None = None) -> str:
    """The weights' sha256 (with the adapter's, if any), once they are known to be loadable
    and to match their pin."""
    check_loadable(path, adapter)
    sha = weight_sha256(store, path, adapter)
    if os.environ.get(ALLOW_ENV, "").lower() in ("1", "true", "yes"):
        return sha
    where = lock_path()
    lock = read_lock(where)
    if lock is None:
        return sha
    resolved = (str(path.resolve()), str(adapter.resolve()) if adapter is not None else None)
    for name, pin in lock.files.items():
        if (name == model or (pin.path, pin.adapter) == resolved) and pin.sha256 != sha:
            raise ModelLoadError(
                f"refusing to load model '{model}': its weights {path}"
                + (f" with adapter {adapter}" if adapter is not None else "")
                + f" have sha256 {sha}, but {where} pins '{name}' to sha256 {pin.sha256} ({pin.path}). "
                "If the change is intended, run 'weighbridge pin' to pin the new weights; "
                f"to load them anyway, pass --allow-unpinned (or set {ALLOW_ENV}=1)"
            )
    return sha
