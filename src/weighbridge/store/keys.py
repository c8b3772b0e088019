"""Virtual API keys: made once, shown once, stored as a SHA-256 digest.

A key carries its limits: the models it may call (``None``: all), a budget in USD and a rate in
requests per minute. Budgets hold under concurrency because spending is two atomic steps in the
database, the ledger's (:data:`weighbridge.store.ledger.KEYS`): the worst case is reserved only
while it fits, then settled at the real cost.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from weighbridge.errors import InvalidRequestError
from weighbridge.hashing import digest
from weighbridge.store.database import Connection, IntegrityError
from weighbridge.store.ledger import KEYS

KEY_PREFIX = "wb-"
#: The callers that are no virtual key (the master key, an open loopback gateway): their
#: records carry these names, so no key may take them and be charged for their spend.
RESERVED_NAMES = frozenset({"master", "local"})


@dataclass(frozen=True)
class ApiKey:
    name: str
    prefix: str
    models: list[str] | None
    budget_usd: float | None
    rpm: int | None
    spent_usd: float
    reserved_usd: float
    created_at: str
    revoked_at: str | None

    def allows(self, model: str) -> bool:
        return self.models is None or model in self.models


def create(
    db: Connection,
    name: str,
    *,
    models: list[str] | None = None,
    budget_usd: float | None = None,
    rpm: int | None = None,
) -> str:
    """Store a new key's digest and limits; return the key itself, which is never stored."""
    if name in RESERVED_NAMES:
        raise InvalidRequestError(f"'{name}' names the gateway's own callers in the log; choose another name")
    if budget_usd is not None and budget_usd < 0:
        raise InvalidRequestError("the budget cannot be negative")
    if rpm is not None and rpm < 1:
        raise InvalidRequestError("the rate limit must be at least 1 request per minute")
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    try:
        db.execute(
            "INSERT INTO api_keys (name, digest, prefix, models, budget_usd, rpm, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                name,
                digest(key),
                key[:8],
                json.dumps(models) if models is not None else None,
                budget_usd,
                rpm,
                datetime.now(UTC).isoformat(),
            ),
        )
    except IntegrityError:
        raise InvalidRequestError(f"a key named '{name}' exists already") from None
    return key


_COLUMNS = f"name, prefix, models, budget_usd, rpm, spent_usd, {KEYS.held}, created_at, revoked_at"


def _key(row: Any) -> ApiKey:
    name, prefix, models, budget, rpm, spent, reserved, created, revoked = row
    return ApiKey(
        str(name),
        str(prefix),
        json.loads(str(models)) if models is not None else None,
        float(budget) if budget is not None else None,
        int(rpm) if rpm is not None else None,
        float(spent),
        float(reserved),
        str(created),
        str(revoked) if revoked is not None else None,
    )


def find_digest(db: Connection, key_digest: str) -> ApiKey | None:
    """The live key whose digest is ``key_digest`` (the key itself is never stored), or None."""
    row = db.execute(
        f"SELECT {_COLUMNS} FROM api_keys WHERE digest = ? AND revoked_at IS NULL", (key_digest,)
    ).fetchone()
    return _key(row) if row else None


def list_keys(db: Connection) -> list[ApiKey]:
    return [_key(row) for row in db.execute(f"SELECT {_COLUMNS} FROM api_keys ORDER BY created_at")]


def revoke(db: Connection, name: str) -> bool:
    cursor = db.execute(
        "UPDATE api_keys SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL",
        (datetime.now(UTC).isoformat(), name),
    )
    return cursor.rowcount == 1
