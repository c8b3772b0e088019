"""The provider registry: every provider type, built-in or a plugin's, is an entry point in the
``weighbridge.providers`` group, found the same way (as simonw/llm finds its own models through
its plugin hooks). weighbridge's own types are declared in its ``pyproject.toml``; a package that
declares one more makes it available to the config, the router and the gateway.

Names are read without importing anything, so a config is checked against the installed types
cheaply; a class is imported on first use, so ``import weighbridge`` stays light.
"""

from __future__ import annotations

import functools
from importlib.metadata import EntryPoint, entry_points
from typing import TYPE_CHECKING, Any

from weighbridge.capabilities import Capabilities
from weighbridge.errors import ConfigError

if TYPE_CHECKING:
    from weighbridge.providers.base import ProviderFactory

GROUP = "weighbridge.providers"


@functools.cache
def provider_types() -> dict[str, EntryPoint]:
    """The installed provider types by name."""
    return {ep.name: ep for ep in entry_points(group=GROUP)}


def unknown_type_message(kind: str) -> str:
    installed = ", ".join(sorted(provider_types())) or "none"
    return f"no provider of type '{kind}' is installed (installed: {installed})"


@functools.cache
def provider_class(kind: str) -> ProviderFactory:
    """The class registered for provider type ``kind``, imported on first use."""
    entry = provider_types().get(kind)
    if entry is None:
        raise ConfigError(unknown_type_message(kind))
    loaded: Any = entry.load()
    if not isinstance(getattr(loaded, "capabilities", None), Capabilities):
        raise ConfigError(f"provider type '{kind}' ({entry.value}) declares no capabilities")
    return loaded  # type: ignore[no-any-return]


def capabilities_of(kind: str) -> Capabilities:
    return provider_class(kind).capabilities
