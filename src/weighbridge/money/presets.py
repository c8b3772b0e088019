"""Hardware presets: what an hour of a common cloud machine costs, with where the figure came
from. The prices are data (``presets.toml`` beside this module), so a changed price is an
edit to a table, reviewed like one, not a change to code."""

from __future__ import annotations

import tomllib
from functools import cache
from importlib import resources

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from weighbridge.errors import ConfigError, InvalidRequestError
from weighbridge.types import validation_message


class Preset(BaseModel):
    model_config = ConfigDict(extra="forbid")

    usd_per_hour: float = Field(gt=0)
    #: What one unit is: the instance, or the one GPU of it that the price is for.
    unit: str
    #: "list price, on-demand, REGION" and the like: the terms the figure holds under.
    price: str
    source: str
    as_of: str
    checked: str


@cache
def presets() -> dict[str, Preset]:
    """The shipped presets by name, validated once."""
    text = resources.files("weighbridge.money").joinpath("presets.toml").read_text("utf-8")
    try:
        return {name: Preset.model_validate(entry) for name, entry in tomllib.loads(text)["presets"].items()}
    except (tomllib.TOMLDecodeError, KeyError, ValidationError) as exc:
        detail = validation_message(exc) if isinstance(exc, ValidationError) else str(exc)
        raise ConfigError(f"the shipped hardware presets are malformed: {detail}") from None


def preset(name: str) -> Preset:
    """The preset called ``name``, or an error that lists the names there are."""
    known = presets()
    if name not in known:
        raise InvalidRequestError(f"no hardware preset '{name}'; the presets are: {', '.join(sorted(known))}")
    return known[name]
