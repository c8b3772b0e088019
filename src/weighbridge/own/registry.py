"""Local models made here (quantized, fine-tuned: GGUFs, and pipelines with
a LoRA) become catalog models by name.

They are recorded in ``$WEIGHBRIDGE_HOME/models.toml`` in the catalog's own shape
(``[models.NAME]``), which :func:`weighbridge.config.load_settings` merges between the shipped
catalog and the user's config: a registered model runs, lists and routes like any other, and
the user's config can still override it. A second table, ``[registered.NAME]``, keeps what
made the model (its base, the file's sha256 at registration, free-form extras such as a LoRA
adapter's hash) for people and tools; the catalog never reads it.

The file is rewritten whole under a lock and replaced atomically, so two commands
registering at once never leave it half-written or lose each other's entry.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from weighbridge.catalog import Catalog, ModelEntry, shipped_catalog_data
from weighbridge.errors import ConfigError, UnknownModelError
from weighbridge.types import validation_message
from weighbridge.weights import PIPELINE_INDEX

REGISTRY_FILE = "models.toml"
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
#: What a derived model keeps of its base: it has the same architecture, tokenizer and licence.
_INHERITED = ("license", "system_prompt", "defaults", "context_tokens", "parameters_b", "vendor")


def registry_path(home: Path) -> Path:
    return home / REGISTRY_FILE


def register_local_model(
    home: Path,
    name: str,
    gguf: Path,
    *,
    catalog: Catalog,
    base: str | None,
    description: str,
    sha256: str,
    extra: dict[str, str] | None = None,
) -> None:
    """Record ``gguf`` as the chat model ``name``; registering a name again replaces it.
    ``base`` (a model of ``catalog``, or one registered since) lends it licence, template and
    defaults."""
    _check_name(name)
    gguf = gguf.expanduser().resolve()
    if gguf.suffix.lower() != ".gguf" or not gguf.is_file():
        raise ConfigError(f"cannot register {gguf}: not an existing .gguf file")
    serve = {"provider": "llamacpp", "file": str(gguf)}
    _register(home, name, catalog, base, "chat", serve, description, sha256, extra)


def register_pipeline_model(
    home: Path,
    name: str,
    pipeline: Path,
    adapter: Path,
    *,
    catalog: Catalog,
    base: str | None,
    description: str,
    sha256: str,
    extra: dict[str, str] | None = None,
) -> None:
    """Record the diffusers ``pipeline`` folder with the LoRA ``adapter`` fused in as the image
    model ``name``; ``sha256`` names the pair, as :func:`weighbridge.weights.weight_sha256` does."""
    _check_name(name)
    pipeline, adapter = pipeline.expanduser().resolve(), adapter.expanduser().resolve()
    if not (pipeline / PIPELINE_INDEX).is_file() or not adapter.exists():
        raise ConfigError(f"cannot register {pipeline} with {adapter}: not a pipeline folder and a LoRA")
    serve = {"provider": "diffusers", "file": str(pipeline), "adapter": str(adapter)}
    _register(home, name, catalog, base, "image", serve, description, sha256, extra)


def _register(
    home: Path,
    name: str,
    catalog: Catalog,
    base: str | None,
    modality: str,
    serve: dict[str, str],
    description: str,
    sha256: str,
    extra: dict[str, str] | None,
) -> None:
    entry: dict[str, Any] = {"name": name, "modality": modality, "open_weights": True, "notes": description}
    if base is not None:
        inherited = _base_entry(home, catalog, base)
        entry.update({key: inherited[key] for key in _INHERITED if inherited.get(key) is not None})
    entry["serve"] = [serve]
    try:
        ModelEntry.model_validate(entry)
    except ValidationError as exc:
        raise ConfigError(f"cannot register '{name}': {validation_message(exc)}") from None
    made = {
        "base": base or "",
        "sha256": sha256,
        **{key: value for key, value in serve.items() if key != "provider"},
        "registered_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "extra": dict(extra or {}),
    }
    with _locked(home):
        data = read_registry(home)
        data.setdefault("models", {})[name] = entry
        data.setdefault("registered", {})[name] = made
        _write(registry_path(home), data)


def registered_models(home: Path) -> dict[str, dict[str, Any]]:
    """The ``[models.*]`` entries of the registry, for the config to merge (empty if none)."""
    models: dict[str, dict[str, Any]] = read_registry(home).get("models", {})
    return models


def registration(home: Path, name: str) -> dict[str, Any] | None:
    """What was recorded when ``name`` was registered (base, sha256, extras), if it was."""
    made: dict[str, Any] | None = read_registry(home).get("registered", {}).get(name)
    return made


def read_registry(home: Path) -> dict[str, Any]:
    path = registry_path(home)
    try:
        return tomllib.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read the model registry {path}: {exc}") from None


def _check_name(name: str) -> None:
    if not name or "/" in name or name.endswith(".gguf") or name != name.strip():
        raise ConfigError(f"'{name}' cannot name a model: use letters, digits, '-', '_' or '.', no '/'")
    if name in shipped_catalog_data()["models"]:
        raise ConfigError(f"'{name}' is a shipped catalog model; register the new model under another name")


def _base_entry(home: Path, catalog: Catalog, base: str) -> dict[str, Any]:
    """The base's entry as data: a registered model first (it may be newer than ``catalog``),
    else the catalog with the user's config."""
    registered = registered_models(home)
    if base in registered:
        return registered[base]
    if base not in catalog.models:
        raise UnknownModelError(base, [*catalog.models, *registered])
    return catalog.models[base].model_dump(exclude_none=True, mode="json")


@contextmanager
def _locked(home: Path) -> Iterator[None]:
    home.mkdir(parents=True, exist_ok=True)
    with (home / (REGISTRY_FILE + ".lock")).open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _write(path: Path, data: dict[str, Any]) -> None:
    lines = ["# Local models registered by weighbridge (quantize, finetune). Rewritten by each registration."]
    for section in ("models", "registered"):
        for name, table in data.get(section, {}).items():
            lines.append("")
            lines.append(f"[{section}.{_key(name)}]")
            lines.extend(f"{_key(key)} = {_toml(value)}" for key, value in table.items())
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("\n".join(lines) + "\n", "utf-8")
    os.replace(tmp, path)


def _key(key: str) -> str:
    return key if _BARE_KEY.fullmatch(key) else _toml(key)


def _toml(value: object) -> str:
    """A TOML value for the few shapes a registry holds (nested tables become inline tables).

    JSON's string escapes are a subset of TOML's basic-string escapes, so json.dumps writes a
    valid TOML string (and a quoted key) for any text.
    """
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float, str)):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{_key(k)} = {_toml(v)}" for k, v in value.items()) + " }"
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} to the registry")
