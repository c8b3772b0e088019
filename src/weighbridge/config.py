"""Settings: where weighbridge keeps its data, and the user's config merged over the catalog.

The config file is TOML, at ``--config``, else ``$WEIGHBRIDGE_CONFIG``, else
``<home>/config.toml`` where home is ``$WEIGHBRIDGE_HOME`` or the user's data directory.
It uses the catalog's own shape (``[providers.NAME]``, ``[models.ID]``), so a user entry
overrides a shipped one key by key. A model may be written short::

    [models.my-llama]
    provider = "groq"
    model = "llama-3.1-8b-instant"

    [models.my-gguf]
    file = "~/models/my.gguf"

    [models.my-checkpoint]            # a Hugging Face checkpoint folder runs on transformers
    file = "~/models/SmolLM2-135M-Instruct"
    adapter = "~/adapters/my-lora"    # optional: a peft LoRA adapter loaded on top

API keys are never stored in the file: a provider names the environment variable that holds
its key (``api_key_env``), and a literal key in the file is refused.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import ValidationError

from weighbridge.catalog import Catalog, shipped_catalog_data
from weighbridge.engines.options import EngineOptions
from weighbridge.errors import ConfigError
from weighbridge.own.registry import registered_models
from weighbridge.routing.routes import Route
from weighbridge.store import Store, StoreOptions
from weighbridge.types import validation_message
from weighbridge.weights import PIPELINE_INDEX

EMBEDDED_MODEL = "smollm2-135m"
Retention = Literal["full", "hash", "none"]
_SECRET_WORDS = ("api_key", "apikey", "secret", "token", "password")
_SHORT_MODEL_KEYS = ("provider", "model", "file", "adapter")


@dataclass(frozen=True)
class Settings:
    """Everything a client needs to know before it makes a call."""

    home: Path
    catalog: Catalog
    default_model: str = EMBEDDED_MODEL
    retention: Retention = "full"
    config_path: Path | None = None
    routes: dict[str, Route] = field(default_factory=dict)
    #: User-defined sensitive data for the privacy guard: regexes and word lists by name.
    privacy_patterns: dict[str, str] = field(default_factory=dict)
    privacy_terms: dict[str, list[str]] = field(default_factory=dict)
    #: How local engines run (``[engine]``): llama-server or in-process, slots, threads...
    engine: EngineOptions = field(default_factory=EngineOptions)
    #: Where the log, keys and budgets live (``[store]``): SQLite in the home, or PostgreSQL.
    store: StoreOptions = field(default_factory=StoreOptions)

    @property
    def db_path(self) -> Path:
        return self.home / "weighbridge.db"

    @property
    def store_location(self) -> Path | str:
        """``WEIGHBRIDGE_DATABASE_URL``, else ``[store] url``, else the SQLite file in the home."""
        return os.environ.get("WEIGHBRIDGE_DATABASE_URL") or self.store.url or self.db_path

    def open_store(self) -> Store:
        return Store(self.store_location, self.store)


def default_home() -> Path:
    env = os.environ.get("WEIGHBRIDGE_HOME")
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir("weighbridge"))


def load_settings(config: str | os.PathLike[str] | None = None) -> Settings:
    """Read the user's config (if any) and merge it over the shipped catalog."""
    home = default_home()
    explicit = config or os.environ.get("WEIGHBRIDGE_CONFIG")
    path = Path(explicit).expanduser() if explicit else home / "config.toml"
    user = _read_config(path, required=bool(explicit))
    where = str(path) if user else "the shipped catalog"

    data = shipped_catalog_data()
    data["models"].update(registered_models(home))  # models made here; the user's config wins
    for section in ("providers", "models"):
        overrides = user.get(section, {})
        if not isinstance(overrides, dict):
            raise ConfigError(f"{path}: [{section}] must be a table")
        for name, entry in overrides.items():
            if not isinstance(entry, dict):
                raise ConfigError(f"{path}: [{section}.{name}] must be a table")
            if section == "providers":
                _refuse_secrets(path, name, entry)
            else:
                entry = _expand_short_model(entry)
            base = data[section].get(name, {})
            data[section][name] = {**base, **entry}
    if "self_hosting" in user:  # usd_per_hour and utilisation; validated with the catalog below
        if not isinstance(user["self_hosting"], dict):
            raise ConfigError(f"{path}: [self_hosting] must be a table (usd_per_hour, utilisation)")
        data["self_hosting"] = {**data.get("self_hosting", {}), **user["self_hosting"]}
    try:
        catalog = Catalog.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"{where}: {validation_message(exc)}") from None

    routes = _routes(path, user.get("routes", {}), catalog)
    privacy = user.get("privacy", {})
    default_model = user.get("default_model", EMBEDDED_MODEL)
    retention = user.get("log", {}).get("retention", "full")
    if retention not in ("full", "hash", "none"):
        raise ConfigError(f"{path}: log.retention must be 'full', 'hash' or 'none'")
    try:
        engine = EngineOptions.model_validate(user.get("engine", {}))
    except ValidationError as exc:
        raise ConfigError(f"{path}: engine.{validation_message(exc)}") from None
    try:
        store = StoreOptions.model_validate(user.get("store", {}))
    except ValidationError as exc:
        raise ConfigError(f"{path}: store.{validation_message(exc)}") from None
    return Settings(
        engine=engine,
        store=store,
        home=home,
        catalog=catalog,
        default_model=default_model,
        retention=retention,
        config_path=path if user else None,
        routes=routes,
        privacy_patterns=dict(privacy.get("patterns", {})),
        privacy_terms={k: list(v) for k, v in privacy.get("terms", {}).items()},
    )


def _routes(path: Path, data: object, catalog: Catalog) -> dict[str, Route]:
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: [routes] must be a table")
    routes = {}
    for name, entry in data.items():
        if name in catalog.models:
            raise ConfigError(f"{path}: route '{name}' has the name of a model; give it another")
        try:
            routes[name] = Route.model_validate(entry)
        except ValidationError as exc:
            raise ConfigError(f"{path}: routes.{name}.{validation_message(exc)}") from None
    return routes


def _read_config(path: Path, *, required: bool) -> dict[str, Any]:
    try:
        text = path.read_text("utf-8")
    except FileNotFoundError:
        if required:
            raise ConfigError(f"config file {path} does not exist") from None
        return {}
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from None
    unknown = set(data) - {
        "providers", "models", "routes", "privacy", "self_hosting", "default_model", "log", "engine"
    }  # fmt: skip
    if unknown:
        raise ConfigError(f"{path}: unknown section(s) {', '.join(sorted(unknown))}")
    return data


def _refuse_secrets(path: Path, name: str, entry: dict[str, Any]) -> None:
    for key in entry:
        if key != "api_key_env" and any(word in key.lower() for word in _SECRET_WORDS):
            raise ConfigError(
                f"{path}: [providers.{name}] has '{key}': keys are never stored in the config; "
                f'write api_key_env = "NAME_OF_VARIABLE" and export that variable instead'
            )


def _expand_short_model(entry: dict[str, Any]) -> dict[str, Any]:
    """``provider``/``model``/``file``/``adapter`` at the top of a model entry become its one
    serve option; a ``file`` that is a diffusers pipeline folder runs on diffusers (an image
    model), another folder on transformers, any other file on llama.cpp."""
    short = {k: entry[k] for k in _SHORT_MODEL_KEYS if k in entry}
    if not short:
        return entry
    rest = {k: v for k, v in entry.items() if k not in _SHORT_MODEL_KEYS}
    for key in ("file", "adapter"):
        if key in short:
            short[key] = str(Path(short[key]).expanduser())
    if "file" in short:
        folder = Path(short["file"])
        if (folder / PIPELINE_INDEX).is_file():  # a diffusers pipeline: pictures, not chat
            short.setdefault("provider", "diffusers")
            rest.setdefault("modality", "image")
        short.setdefault("provider", "transformers" if folder.is_dir() else "llamacpp")
    return {**rest, "serve": [short]}
