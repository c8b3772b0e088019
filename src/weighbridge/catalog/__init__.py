"""The shipped model catalog (``catalog.toml``: data, not code) and how user config extends it."""

from __future__ import annotations

import tomllib
from importlib import resources
from typing import Any

from weighbridge.catalog.schema import (
    Catalog,
    License,
    ModelEntry,
    Price,
    ProviderEntry,
    SelfHosting,
    ServeOption,
)

__all__ = [
    "Catalog",
    "License",
    "ModelEntry",
    "Price",
    "ProviderEntry",
    "SelfHosting",
    "ServeOption",
    "shipped_catalog_data",
]


def shipped_catalog_data() -> dict[str, Any]:
    """The raw shipped catalog, before the user's config is merged into it."""
    text = resources.files("weighbridge.catalog").joinpath("catalog.toml").read_text("utf-8")
    return tomllib.loads(text)
