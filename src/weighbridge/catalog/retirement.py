"""When a catalog model retires: the vendor's announced shutdown date as a warning, from 90 days
before it (time to weigh a replacement with ``weighbridge revalidate``) and for ever after, so
a route or a script that still names a retired model is noticed before its calls fail."""

from __future__ import annotations

from datetime import date

from weighbridge.catalog.schema import Catalog

#: How long before its shutdown a model is warned about.
WARN_DAYS = 90


def retirement_warning(catalog: Catalog, model_id: str, today: date) -> str | None:
    """One line when ``model_id`` retires within :data:`WARN_DAYS` of ``today`` or has
    retired, with the source of the date; None for a name the catalog dates no retirement
    for (open weights never retire; only a host's endpoint does)."""
    entry = catalog.models.get(model_id)
    if entry is None or entry.deprecated is None:
        return None
    when = date.fromisoformat(entry.deprecated)  # checked when the catalog was loaded
    days = (when - today).days
    if days > WARN_DAYS:
        return None
    source = f"; {entry.deprecation_source}" if entry.deprecation_source else ""
    if days < 0:
        return f"{model_id} retired on {when} ({_days(-days)} ago{source})"
    if days == 0:
        return f"{model_id} retires today ({when}{source})"
    return f"{model_id} retires {when} (in {_days(days)}{source})"


def _days(count: int) -> str:
    return f"{count} day" if count == 1 else f"{count} days"
