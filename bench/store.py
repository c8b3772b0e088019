"""What keeping one audit chain costs when several writers share it: records appended per
second, and the latency of one append, by 1 and by 3 writer processes (three gateway replicas)
on the same store, on SQLite (one file, WAL) and on PostgreSQL (a server this run starts, over
loopback TCP, as the tests start theirs).

    .venv/bin/python bench/store.py [--records 1000]

One writer never waits for another; three writers contend for the chain's head: a writer that
appended after a stale head is refused by the unique index on ``prev_hash`` and chains its
record again (``weighbridge.store.audit``), so the cost of serialising the chain is the
difference between the rows. The chain is verified at the end of every row.
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from tests.support.postgres import binaries, postgres_server  # noqa: E402
from weighbridge.store import InferenceRecord, Store  # noqa: E402


def write(
    location: str, writer: int, records: int, start: float, out: multiprocessing.Queue[list[float]]
) -> None:
    """One replica: open the store, wait for the common start, append one record at a time."""
    store = Store(location)
    while time.time() < start:
        time.sleep(0.001)
    latencies = []
    for n in range(records):
        record = InferenceRecord(
            id=f"wb-{writer}-{n}",
            created_at="2026-12-03T12:00:00+00:00",
            source="gateway",
            model="bench",
            provider="bench",
            status="ok",
            retention="none",
            prompt_tokens=14,
            completion_tokens=9,
            latency_ms=1.0,
            cost_usd=0.0001,
            key_name="bench",
        )
        began = time.perf_counter()
        store.record(record)
        latencies.append(time.perf_counter() - began)
    store.close()
    out.put(latencies)


def measure(location: str, writers: int, records: int) -> tuple[float, float, float, int]:
    """(records/s, p50 ms, p99 ms, records verified) for ``writers`` processes at once."""
    Store(location).close()  # the schema, before the writers open it
    context = multiprocessing.get_context("spawn")
    out: multiprocessing.Queue[list[float]] = context.Queue()
    start = time.time() + 3.0  # every writer has opened its store by then
    procs = [context.Process(target=write, args=(location, w, records, start, out)) for w in range(writers)]
    for proc in procs:
        proc.start()
    latencies = [value for _ in procs for value in out.get(timeout=600)]
    wall = time.time() - start
    for proc in procs:
        proc.join()
    store = Store(location)
    verdict = store.verify()
    store.close()
    if not verdict.ok:
        raise SystemExit(f"the chain does not verify: {verdict.problem}")
    cuts = statistics.quantiles(latencies, n=100)
    return len(latencies) / wall, cuts[49] * 1000, cuts[98] * 1000, verdict.checked


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1000, help="records each writer appends")
    args = parser.parse_args()
    print(f"{'store':11} {'writers':>7} {'records/s':>10} {'p50 ms':>8} {'p99 ms':>8}  chain")
    with tempfile.TemporaryDirectory(prefix="wb-store-bench-") as tmp, contextlib.ExitStack() as stack:
        fresh: dict[str, Callable[[int], str]] = {"sqlite": lambda n: str(Path(tmp) / f"bench-{n}.db")}
        if binaries() is None:
            print("PostgreSQL not measured: initdb/pg_ctl not found (setup.sh --dev installs them)")
        else:
            server = stack.enter_context(postgres_server())
            fresh["postgresql"] = lambda n: server.create_database()
        for name, location in fresh.items():
            for writers in (1, 3):
                rate, p50, p99, checked = measure(location(writers), writers, args.records)
                print(
                    f"{name:11} {writers:>7} {rate:>10.0f} {p50:>8.2f} {p99:>8.2f}  {checked} records verify"
                )


if __name__ == "__main__":
    main()
