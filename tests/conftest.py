"""Shared fixtures: every test gets its own data directory, and real servers on free ports.
The helpers behind them are in ``tests/support``."""

from __future__ import annotations

import fcntl
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

import weighbridge
from tests.support import scripted
from tests.support.paths import ROOT
from tests.support.replay import ReplayServer
from tests.support.servers import EMBEDDED_FILE, llama_cpp_server
from weighbridge.targets import weight_path

if TYPE_CHECKING:
    from tests.support.compare import Script, Upstream

# The scripted provider type is installed as a plugin is: a dist-info naming its entry point.
sys.path.insert(0, str(ROOT / "tests" / "support" / "site"))


def pytest_configure(config: pytest.Config) -> None:
    """Split the cores between the workers: llama.cpp spreads a request over every core it is
    given, and with each worker doing so on the same cores its threads wait on each other."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if workers > 1 and "WEIGHBRIDGE_THREADS" not in os.environ:
        os.environ["WEIGHBRIDGE_THREADS"] = str(max(1, len(os.sched_getaffinity(0)) // workers))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Modules with ``long`` tests first, longest first (``@pytest.mark.long(seconds)``): each
    worker takes whole modules in this order, and a long module started last would leave the
    other worker idle while it ends."""
    seconds: dict[str, float] = {}
    for item in items:
        mark = item.get_closest_marker("long")
        if mark is not None and item.module is not None:
            name = item.module.__name__
            seconds[name] = seconds.get(name, 0.0) + float(mark.args[0])
    items.sort(key=lambda item: -seconds.get(item.module.__name__ if item.module else "", 0.0))


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> Iterator[Path]:
    """A fresh WEIGHBRIDGE_HOME, no user config, no keys, and a fresh default client. With
    ``WEIGHBRIDGE_TEST_STORE=postgres`` every test's store is a fresh PostgreSQL database
    instead of the home's SQLite file: the whole suite then runs on the other backend."""
    data = tmp_path / "home"
    monkeypatch.setenv("WEIGHBRIDGE_HOME", str(data))
    monkeypatch.delenv("WEIGHBRIDGE_CONFIG", raising=False)
    monkeypatch.delenv("WEIGHBRIDGE_DATABASE_URL", raising=False)
    if os.environ.get("WEIGHBRIDGE_TEST_STORE") == "postgres":
        monkeypatch.setenv("WEIGHBRIDGE_DATABASE_URL", request.getfixturevalue("pg_url"))
    for var in list(os.environ):
        if var.endswith("_API_KEY"):
            monkeypatch.delenv(var)
    weighbridge._default = None
    yield data
    if weighbridge._default is not None:
        weighbridge._default.close()
        weighbridge._default = None


@pytest.fixture
def scripts() -> Iterator[dict[str, scripted.Script]]:
    """The scripted providers' scripts, by provider instance name; empty for each test."""
    scripted.SCRIPTS.clear()
    yield scripted.SCRIPTS
    scripted.SCRIPTS.clear()


@pytest.fixture
def upstream() -> Iterator[ReplayServer]:
    """A loopback server replaying scripted provider answers (see tests/replay_server.py)."""
    with ReplayServer() as replay:
        yield replay


@pytest.fixture
def script() -> Script:
    """What the scripted compare upstream answers, model by model (tests/support/compare.py)."""
    from tests.support.compare import Script

    return Script()


@pytest.fixture
def cloud(script: Script) -> Iterator[Upstream]:
    """A loopback upstream that answers each model's prompts as ``script`` says."""
    from tests.support.compare import Upstream

    with Upstream(script) as server:
        yield server


@pytest.fixture(scope="session")
def embedded_path() -> Path:
    return weight_path(EMBEDDED_FILE)


@pytest.fixture(scope="session")
def hf_checkpoint(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> Path:
    """The embedded GGUF as a float32 safetensors checkpoint with its tokenizer, made the way a
    fine-tune makes its base (about 20 s on 2 cores), once for the whole run: the xdist workers
    share one folder, the first to get there building it while the others wait."""
    from tests.support.checkpoints import dequantized_embedded

    base = tmp_path_factory.getbasetemp()
    shared = base if worker_id == "master" else base.parent  # the run's, above each worker's own
    with (shared / "hf-checkpoint.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return dequantized_embedded(shared / "hf-checkpoint-home")


@pytest.fixture(scope="session")
def tiny_sd(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> Path:
    """A tiny Stable Diffusion 1.x pipeline folder (32x32 pictures, random weights), built from
    configs in about a second, once for the whole run: the xdist workers share one folder, the
    first to get there building it while the others wait. Never changed: a test that changes a
    pipeline copies it first."""
    from tests.support.diffusion import tiny_sd_pipeline

    base = tmp_path_factory.getbasetemp()
    shared = base if worker_id == "master" else base.parent
    folder = shared / "tiny-sd"
    with (shared / "tiny-sd.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not folder.is_dir():  # built aside and renamed: a half-built folder is never found
            tiny_sd_pipeline(shared / "tiny-sd.building").rename(folder)
        return folder


@pytest.fixture(scope="session")
def llama_server(embedded_path: Path) -> Iterator[str]:
    """A real ``python -m llama_cpp.server`` serving the embedded model; yields its base URL."""
    with llama_cpp_server(embedded_path) as base:
        yield base


if TYPE_CHECKING:
    from tests.support.postgres import PostgresServer


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """A real PostgreSQL server, one per test process (each xdist worker has its own), started
    by the tests on a free loopback port (tests/support/postgres.py). Without PostgreSQL's
    programs the tests that need it are skipped, except on CI, where that is a failure."""
    from tests.support import postgres as pg

    if pg.binaries() is None:
        reason = "PostgreSQL's initdb, pg_ctl and postgres were not found (setup.sh --dev installs them)"
        if os.environ.get("CI"):
            pytest.fail(reason + "; on CI the store tests must run, not be skipped")
        pytest.skip(reason)
    with pg.postgres_server() as server:
        yield server


@pytest.fixture
def pg_url(postgres: PostgresServer) -> str:
    """The URL of a fresh empty database on the session's server, for this test alone."""
    return postgres.create_database()
