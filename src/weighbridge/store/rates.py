"""Requests per minute per key, counted in the database so that a limit holds across every
replica: ``rpm = 10`` on three replicas lets ten requests through in any minute, not thirty.

A sliding window: each admitted request is a row, and a request is admitted while fewer than
``rpm`` rows are younger than a minute. Counting and inserting happen under the key's own lock,
so two replicas never both take the last place. Clocks come from the replicas (keep them in
NTP sync); rows older than the window are deleted as the key is next counted.
"""

from __future__ import annotations

import time

from weighbridge.store.database import Connection

WINDOW_S = 60.0


def admit(db: Connection, key_name: str, rpm: int) -> float | None:
    """Count one request for ``key_name``: None when it is admitted, else the seconds until the
    oldest request in the window leaves it."""
    now = time.time()
    with db.transaction():
        db.lock(f"weighbridge.rate:{key_name}")
        db.execute("DELETE FROM rate_events WHERE key_name = ? AND at <= ?", (key_name, now - WINDOW_S))
        count, oldest = db.execute(
            "SELECT count(*), min(at) FROM rate_events WHERE key_name = ?", (key_name,)
        ).fetchone()
        if int(count) >= rpm:
            return max(0.0, float(oldest) + WINDOW_S - now)
        db.execute("INSERT INTO rate_events (key_name, at) VALUES (?, ?)", (key_name, now))
    return None
