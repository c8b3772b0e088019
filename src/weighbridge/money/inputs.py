"""The crossover's inputs, gathered from the catalog, the config, the log and the user's
options, each with a note of where it came from, so the report can say what it assumed.

Defaults, in order: the hardware price is ``--usd-per-hour``, else ``--preset``, else the
config's ``[self_hosting] usd_per_hour`` (the machine weighbridge prices local calls at);
utilisation is ``--utilisation``, else the config's; the input share is ``--input-share``,
else the share of prompt tokens in the user's own log, else an even split when the log has no
traffic yet; prefill speed is ``--prefill-tokens-per-s``, else the measured one, else
``PREFILL_RATIO`` times decode.
"""

from __future__ import annotations

from contextlib import suppress
from dataclasses import dataclass

from weighbridge.catalog import Catalog
from weighbridge.config import Settings
from weighbridge.errors import InvalidRequestError, MissingKeyError, ModelLoadError, UnknownModelError
from weighbridge.money.crossover import PREFILL_RATIO, ApiPrice, Scenario
from weighbridge.money.presets import preset
from weighbridge.money.throughput import Throughput

#: The mix assumed when neither the user nor the log says (ShareGPT-style chat is near it).
EVEN_SPLIT = 0.5


@dataclass(frozen=True)
class Inputs:
    scenario: Scenario
    #: Where each figure came from, by name, in words.
    notes: dict[str, str]


def api_price(catalog: Catalog, model: str) -> ApiPrice:
    """The catalog price of a model to compare against, or a one-line reason why not."""
    entry = catalog.models.get(model)
    if entry is None:
        raise UnknownModelError(model, catalog.models)
    price = entry.price
    if price is None or price.input_per_mtok is None or price.output_per_mtok is None:
        raise InvalidRequestError(
            f"{model} has no price per token in the catalog; add [models.{model}.price] "
            "input_per_mtok and output_per_mtok to your config"
        )
    when = f" as of {price.as_of}" if price.as_of else ""
    return ApiPrice(
        model, price.input_per_mtok, price.output_per_mtok, f"{price.provider or 'catalog'}{when}"
    )


def check_local(settings: Settings, model: str) -> None:
    """The model to self-host must be one a user can name and whose weights can be had; it
    need not run here when its speed is given."""
    from weighbridge.targets import resolve

    entry = settings.catalog.models.get(model)
    if entry is not None and entry.open_weights is False:
        raise InvalidRequestError(f"{model} has closed weights: it cannot be self-hosted; pass it as --api")
    with suppress(MissingKeyError, ModelLoadError):
        resolve(settings, model)  # unknown names fail here, with suggestions


@dataclass(frozen=True)
class Options:
    """What the user asked for; None where the default applies."""

    local: str
    apis: list[str]
    prefill_tokens_per_s: float | None = None
    usd_per_hour: float | None = None
    preset_name: str | None = None
    utilisation: float | None = None
    input_share: float | None = None


def _hardware(settings: Settings, options: Options) -> tuple[float, str]:
    hosting = settings.catalog.self_hosting
    if options.usd_per_hour is not None and options.preset_name is not None:
        raise InvalidRequestError("give --usd-per-hour or --preset, not both")
    if options.usd_per_hour is not None:
        return options.usd_per_hour, "--usd-per-hour"
    if options.preset_name is not None:
        chosen = preset(options.preset_name)
        note = f"{options.preset_name}: {chosen.unit}; {chosen.price}; {chosen.source} (as of {chosen.as_of})"
        return chosen.usd_per_hour, note
    if hosting is not None:
        return hosting.usd_per_hour, f"config [self_hosting]: {hosting.source or 'no source given'}"
    raise InvalidRequestError("no hardware price: pass --usd-per-hour or --preset")


def _utilisation(settings: Settings, options: Options) -> tuple[float, str]:
    if options.utilisation is not None:
        return options.utilisation, "--utilisation"
    hosting = settings.catalog.self_hosting
    return (hosting.utilisation if hosting else 1.0), "config [self_hosting] utilisation"


def _input_share(options: Options, logged: float | None) -> tuple[float, str]:
    if options.input_share is not None:
        return options.input_share, "--input-share"
    if logged is not None:
        return logged, "your log (prompt tokens / all tokens)"
    return EVEN_SPLIT, "an even split: the log has no traffic yet"


def _prefill(options: Options, throughput: Throughput) -> tuple[float, str]:
    if options.prefill_tokens_per_s is not None:
        return options.prefill_tokens_per_s, "--prefill-tokens-per-s"
    if throughput.prefill_tokens_per_s is not None:
        return throughput.prefill_tokens_per_s, "measured with the decode speed"
    ratio_note = f"{PREFILL_RATIO:g} x decode tokens/s (a default ratio; see the README)"
    return throughput.decode_tokens_per_s * PREFILL_RATIO, ratio_note


def gather(
    settings: Settings, options: Options, throughput: Throughput, logged_input_share: float | None
) -> Inputs:
    """Put the options, config and log together into one checked :class:`Scenario`."""
    price, hardware = _hardware(settings, options)
    utilisation, utilisation_note = _utilisation(settings, options)
    share, share_note = _input_share(options, logged_input_share)
    prefill, prefill_note = _prefill(options, throughput)
    scenario = Scenario(
        options.local,
        throughput.decode_tokens_per_s,
        prefill,
        price,
        utilisation,
        share,
        tuple(api_price(settings.catalog, m) for m in options.apis),
    )
    notes = {
        "throughput": throughput.source,
        "prefill": prefill_note,
        "hardware": hardware,
        "utilisation": utilisation_note,
        "input share": share_note,
    }
    return Inputs(scenario, notes)


def check(settings: Settings, options: Options) -> None:
    """Every option checked before a measured run spends a minute of the user's time: the
    same checks :func:`gather` makes, on a placeholder throughput."""
    gather(settings, options, Throughput(1.0, None, "placeholder"), None)


def given_throughput(tokens_per_s: float) -> Throughput:
    """``--tokens-per-s`` as a throughput (its prefill speed unknown)."""
    if not tokens_per_s > 0:
        raise InvalidRequestError("--tokens-per-s must be above 0")
    return Throughput(tokens_per_s, None, "--tokens-per-s (aggregate decode tokens/s)")
