"""Which days a spend report covers.

Days are UTC days, because every writer stamps ``created_at`` with ``datetime.now(UTC)``: a
request belongs to the UTC day it started on. ``since`` and ``until`` are both inclusive, so
``--since 2026-11-01 --until 2026-11-30`` is the whole of November. Because the stamps are
UTC ISO-8601 strings, a day boundary is a plain string comparison in SQL, which keeps the
index on ``created_at`` useful.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from weighbridge.errors import InvalidRequestError


def parse_day(text: str, option: str) -> date:
    """``YYYY-MM-DD``, or one line that says what was expected."""
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InvalidRequestError(f"{option} must be a date as YYYY-MM-DD, not '{text}'") from None


@dataclass(frozen=True)
class Window:
    since: date | None = None
    until: date | None = None

    def __post_init__(self) -> None:
        if self.since and self.until and self.since > self.until:
            raise InvalidRequestError(f"--since {self.since} is after --until {self.until}")

    def where(self) -> tuple[str, list[str]]:
        """A SQL condition on ``created_at`` and its arguments (``1 = 1`` when unbounded)."""
        clauses, args = [], []
        if self.since is not None:
            clauses.append("created_at >= ?")
            args.append(self.since.isoformat())
        if self.until is not None:
            clauses.append("created_at < ?")
            args.append((self.until + timedelta(days=1)).isoformat())
        return (" AND ".join(clauses) or "1 = 1"), args


def utc_day(created_at: str) -> str:
    """The UTC day of a stamp, as ``YYYY-MM-DD``."""
    stamp = datetime.fromisoformat(created_at)
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=UTC)
    return stamp.astimezone(UTC).date().isoformat()
