"""Requests per minute per key, counted in the database so that a limit holds across every
replica: ``rpm = 10`` on three replicas lets ten requests through in any minute, not thirty.

A sliding window: each admitted request is a row, and a request is admitted while fewer than
``rpm`` rows are younger than a minute. Counting and inserting happen under the key's own lock,
so two replicas never both take the last place. Clocks come from the replicas (keep them in
NTP sync); rows older than the window are deleted as the key is next counted.
"""

from __future__ import annotations

import secrets
import time

from weighbridge.store.database import Connection

WINDOW_S = 60.0


def admit(db: Connection, key_name: str, rpm: int) -> float | None:
    """Count one request for ``key_name``: None when it is admitted, else the seconds until the
    oldest request in the window leaves it. One message to the database, under the key's lock."""
    now, event = time.time(), secrets.token_hex(12)
    [(admitted, oldest)] = db.run(
        [
            ("DELETE FROM rate_events WHERE key_name = ? AND at <= ?", (key_name, now - WINDOW_S)),
            (
                "INSERT INTO rate_events (id, key_name, at) SELECT ?, ?, ? "
                "WHERE (SELECT count(*) FROM rate_events WHERE key_name = ?) < ?",
                (event, key_name, now, key_name, rpm),
            ),
            (
                "SELECT (SELECT count(*) FROM rate_events WHERE id = ?), "
                "(SELECT min(at) FROM rate_events WHERE key_name = ?)",
                (event, key_name),
            ),
        ],
        lock=f"weighbridge.rate:{key_name}",
    )
    return None if admitted else max(0.0, float(oldest) + WINDOW_S - now)
