"""Three ``weighbridge serve`` replicas on one real PostgreSQL server, behind the test's own
round-robin, with many clients at once: budgets end exact against the log and never above their
cap, a rate limit is one limit, the audit chain has no fork, a replica killed mid-run loses no
answered request, and a PostgreSQL restart gives clean 503s and then recovers on its own."""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from tests.support.cli import WEIGHBRIDGE, invoke
from tests.support.compare import Upstream
from tests.support.gateway import priced_upstream, wait_until_healthy
from tests.support.postgres import PostgresServer
from tests.support.servers import free_port

MASTER = "wb-master-for-replica-tests-0123456789"
#: Room for about 19 answers of 100 + 10 tokens (the upstream's usage, tests/support/compare.py).
ROUTE_BUDGET = 0.0004


class Replicas:
    """Gateway processes on one database; ``next()`` hands out their URLs in turn."""

    def __init__(self, home: Path, count: int) -> None:
        self.home = home
        self.procs: list[subprocess.Popen[bytes]] = []
        self.urls: list[str] = []
        for n in range(count):
            port = free_port()
            with (home / f"replica-{n}.log").open("ab") as log:
                proc = subprocess.Popen(
                    [WEIGHBRIDGE, "serve", "--port", str(port)],
                    env=dict(os.environ, WEIGHBRIDGE_MASTER_KEY=MASTER),
                    stdout=subprocess.DEVNULL,
                    stderr=log,
                )
            self.procs.append(proc)
            self.urls.append(f"http://127.0.0.1:{port}")
        for proc, url in zip(self.procs, self.urls, strict=True):
            wait_until_healthy(url, proc)
        self._turn = itertools.cycle(range(count))
        self._lock = threading.Lock()

    def live(self) -> list[str]:
        return [url for proc, url in zip(self.procs, self.urls, strict=True) if proc.poll() is None]

    def next(self) -> str:
        with self._lock:
            for _ in range(len(self.urls)):
                n = next(self._turn)
                if self.procs[n].poll() is None:
                    return self.urls[n]
        raise AssertionError("no replica left")

    def close(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs:
            proc.wait(timeout=20)


@pytest.fixture
def replicas(home: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Replicas]:
    monkeypatch.setenv("WEIGHBRIDGE_DATABASE_URL", pg_url)
    upstream = Upstream(lambda model, prompt: "an answer")
    upstream.__enter__()
    home.mkdir(parents=True, exist_ok=True)
    config = priced_upstream(upstream.url, "priced", "priced-model")
    config += f'\n[routes.capped]\nbudget_usd = {ROUTE_BUDGET}\ntargets = [{{ model = "priced-model" }}]\n'
    (home / "config.toml").write_text(config)
    assert invoke("db", "migrate").returncode == 0  # the schema once, before the replicas start
    group = Replicas(home, 3)
    try:
        yield group
    finally:
        group.close()
        upstream.__exit__(None, None, None)


def new_key(*args: str) -> str:
    made = invoke("keys", "create", *args)
    assert made.returncode == 0, made.stderr
    return made.stdout.strip()


def ask(replicas: Replicas, key: str, model: str = "priced-model", stream: bool = False) -> httpx.Response:
    """One request to the next replica. A replica killed under the request (it never answered)
    or before it (it refuses the connection) is passed over for the next, as a balancer would;
    a transport error from a live replica fails the test."""
    for _ in range(10):
        base = replicas.next()
        try:
            return httpx.post(
                base + "/v1/chat/completions",
                headers={"Authorization": f"Bearer {key}"},
                json={
                    "model": model,
                    "messages": [{"role": "user", "content": "hello"}],
                    "max_tokens": 40,  # a worst case above the 100 + 10 tokens each answer costs
                    "stream": stream,
                },
                timeout=30,
            )
        except httpx.TransportError:
            proc = replicas.procs[replicas.urls.index(base)]
            try:
                proc.wait(timeout=2)
            except subprocess.TimeoutExpired:
                raise AssertionError(f"a live replica ({base}) dropped a request") from None
    raise AssertionError("no replica took the request")


def spent(home: Path) -> dict[str, Decimal]:
    """The budgets' counters and the log's own sums, by key and by route."""
    report = json.loads(invoke("spend", "--json").stdout)
    by_key = json.loads(invoke("spend", "--by", "key", "--json").stdout)
    by_route = json.loads(invoke("spend", "--by", "route", "--json").stdout)
    out = {f"{b['kind']}:{b['name']}": Decimal(b["spent_usd"]) for b in report["budgets"]}
    out |= {f"log-key:{g['group']}": Decimal(g["cost_usd"]) for g in by_key["groups"]}
    out |= {f"log-route:{g['group']}": Decimal(g["cost_usd"]) for g in by_route["groups"]}
    return out


def same(counter: Decimal, logged: Decimal) -> bool:
    """A budget's float counter against the log's exact decimal sum: equal far below a cent
    (sums of float costs differ from exact ones in the 17th digit)."""
    return abs(counter - logged) < Decimal("1e-12")


@pytest.mark.long(25)
def test_budgets_rates_and_chain_hold_across_three_replicas(replicas: Replicas, home: Path) -> None:
    team = new_key("--name", "team", "--budget-usd", "0.0003")
    limited = new_key("--name", "limited", "--rpm", "10")
    route_user = new_key("--name", "route-user")

    with ThreadPoolExecutor(12) as pool:
        team_statuses = Counter(r.status_code for r in pool.map(lambda _: ask(replicas, team), range(60)))
        route_statuses = Counter(
            r.status_code
            for r in pool.map(lambda i: ask(replicas, route_user, "capped", i % 2 == 0), range(60))
        )
        limited_replies = list(pool.map(lambda _: ask(replicas, limited), range(30)))

    assert set(team_statuses) == {200, 429} and team_statuses[200] >= 5
    assert set(route_statuses) == {200, 429} and route_statuses[200] >= 5
    assert Counter(r.status_code for r in limited_replies) == {200: 10, 429: 20}  # not 30 on 3 replicas
    refused = [r for r in limited_replies if r.status_code == 429]
    assert all(r.json()["error"]["code"] == "rate_limit_exceeded" for r in refused)
    assert all(0 < float(r.headers["retry-after"]) <= 60 for r in refused)

    sums = spent(home)
    assert same(sums["key:team"], sums["log-key:team"]) and sums["key:team"] <= Decimal("0.0003")
    assert same(sums["route:capped"], sums["log-route:capped"])
    assert sums["route:capped"] <= Decimal(str(ROUTE_BUDGET))
    assert sums["key:team"] > Decimal("0.0002")  # filled, not refused early
    logged = team_statuses[200] + route_statuses[200] + 10  # refusals never reach the log
    verified = invoke("audit", "verify")
    assert verified.returncode == 0 and f"ok: {logged} records" in verified.stdout, verified.stdout


@pytest.mark.long(20)
def test_a_killed_replica_and_a_database_restart(
    replicas: Replicas, home: Path, postgres: PostgresServer
) -> None:
    key = new_key("--name", "load", "--budget-usd", "100")
    answered: list[str] = []
    outages: list[httpx.Response] = []
    stop = threading.Event()

    def load() -> None:
        while not stop.is_set():
            reply = ask(replicas, key)
            if reply.status_code == 200:
                answered.append("wb-" + reply.json()["id"].removeprefix("chatcmpl-"))
            else:
                outages.append(reply)

    def wait_for(count: int) -> None:
        until = time.monotonic() + 60
        while len(answered) < count and time.monotonic() < until:
            time.sleep(0.02)
        assert len(answered) >= count

    workers = [threading.Thread(target=load) for _ in range(6)]
    for worker in workers:
        worker.start()
    try:
        wait_for(20)
        replicas.procs[1].send_signal(signal.SIGKILL)  # mid-run, answers flowing
        replicas.procs[1].wait(timeout=10)
        wait_for(len(answered) + 20)
        postgres.restart(down_s=1.5)
        wait_for(len(answered) + 20)  # the same gateways recover on their own
    finally:
        stop.set()
        for worker in workers:
            worker.join(timeout=60)

    assert outages, "the database was down for 1.5 s under load: someone must have been told"
    for reply in outages:  # every failure a clean 503 in the OpenAI shape
        assert reply.status_code == 503, reply.text
        assert reply.json()["error"]["code"] == "store_unavailable"
        assert "Traceback" not in reply.text and "postgresql://" not in reply.text
    sums = spent(home)
    assert same(sums["key:load"], sums["log-key:load"])
    verified = invoke("audit", "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    exported = {json.loads(line)["id"] for line in invoke("audit", "export").stdout.splitlines()}
    assert set(answered) <= exported
    for n in (0, 2):
        assert "Traceback" not in (home / f"replica-{n}.log").read_text()


def test_a_page_session_and_an_arena_pair_work_on_every_replica(replicas: Replicas) -> None:
    key = new_key("--name", "voter")
    first, second, third = replicas.urls
    opened = httpx.post(first + "/session", headers={"Authorization": f"Bearer {key}"})
    assert opened.status_code == 200, opened.text
    session = {"Cookie": f"wb_session={opened.cookies['wb_session']}", "X-CSRF-Token": opened.json()["csrf"]}
    assert httpx.get(second + "/session", headers=session).json()["caller"] == "voter"

    drawn = httpx.post(
        second + "/arena/pair", headers=session, json={"pool": ["priced-model", "smollm2-135m"]}
    )
    assert drawn.status_code == 200, drawn.text
    ballot = {"pair": drawn.json()["pair"], "outcome": "tie", "prompt": "hello", "task": "greeting"}
    voted = httpx.post(third + "/arena/vote", headers=session, json=ballot)
    assert voted.status_code == 200, voted.text
    assert {voted.json()["a"], voted.json()["b"]} == {"priced-model", "smollm2-135m"}
    again = httpx.post(first + "/arena/vote", headers=session, json=ballot)  # a pair is used once
    assert again.status_code == 400 and "already used" in again.json()["error"]["message"]

    assert httpx.request("DELETE", third + "/session", headers=session).status_code == 200
    assert httpx.get(first + "/session", headers=session).status_code == 401  # signed out everywhere
