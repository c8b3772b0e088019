"""A real PostgreSQL server for the store tests, started by the tests themselves: ``initdb`` into
a temporary directory and ``pg_ctl start`` on a free loopback port, so that the tests exercise
the SQL a production server runs, not a fake. Nothing here is pytest-specific; the fixtures that
use it are in ``tests/conftest.py``.

initdb and postgres refuse to run as root; when the tests do (containers, CI images), the
server's programs run as the ``postgres`` system user if there is one, else as ``nobody``, on a
data directory that user owns."""

from __future__ import annotations

import atexit
import contextlib
import os
import pwd
import re
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg

from tests.support.servers import free_port

PROGRAMS = ("initdb", "pg_ctl", "postgres")
#: Settings for a throwaway server: flushing to disk costs time and protects nothing here, since
#: the machine does not crash under the tests. synchronous_commit stays on: off, a commit
#: returns before its WAL leaves the server's buffers, and restart()'s immediate stop loses the
#: last fraction of a second of committed rows; with fsync off, keeping it on costs one write().
SETTINGS = {
    "listen_addresses": "127.0.0.1",
    "fsync": "off",
    "full_page_writes": "off",
    "max_connections": "200",
}
#: What a failed start's log says when another process took the port between our choosing it
#: and the server binding it; only then is a first start retried on another port.
PORT_TAKEN = re.compile(r"could not bind|Address already in use|could not create any TCP/IP sockets")


def binaries() -> Path | None:
    """The directory holding initdb, pg_ctl and postgres, or None: pg_ctl starts the
    ``postgres`` beside itself, so all three must be in one directory. Debian keeps them in
    /usr/lib/postgresql/VERSION/bin (with only some linked onto PATH), so a PATH hit is
    followed through its symbolic links, and the highest installed version is the fallback."""
    found = shutil.which("initdb")
    candidates = [Path(found).resolve().parent] if found else []
    versions = Path("/usr/lib/postgresql").glob("*/bin")
    candidates += sorted(versions, key=lambda d: _version(d.parent.name), reverse=True)
    for directory in candidates:
        if all(os.access(directory / name, os.X_OK) for name in PROGRAMS):
            return directory
    return None


def _version(name: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", name))


def _server_user() -> pwd.struct_passwd | None:
    """Who runs the server's programs: None (ourselves) unless we are root, which initdb and
    postgres refuse to be; then ``postgres`` if the system has that user, else ``nobody``."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    raise RuntimeError(
        "running as root, and there is neither a postgres nor a nobody user to run postgres as"
    )


class PostgresServer:
    """One throwaway server: its data directory lives from the first start() to close(), and
    it keeps its port across restart(), as a real server does when it comes back."""

    def __init__(self, bin_dir: Path | None = None) -> None:
        found = bin_dir or binaries()
        if found is None:
            raise RuntimeError("PostgreSQL's initdb, pg_ctl and postgres were not found (setup.sh --dev)")
        self.bin_dir = found
        self.user = _server_user()
        # Not pytest's tmp_path: that is mode 700 under /tmp/pytest-of-root, which the
        # unprivileged server user could not enter.
        self.base = Path(tempfile.mkdtemp(prefix="wb-pg-"))
        self.base.chmod(0o755)
        if self.user is not None:
            os.chown(self.base, self.user.pw_uid, self.user.pw_gid)
        self.data = self.base / "data"
        self.log = self.base / "server.log"
        self.port = free_port()
        self._initialised = False
        self._closed = False
        atexit.register(self.close)

    @property
    def url(self) -> str:
        return self.database_url("postgres")

    def database_url(self, name: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{name}"

    def start(self) -> None:
        """initdb on the first start, then ``pg_ctl start -w``; returns once the server takes
        connections. A first start whose port was taken meanwhile is retried on another port;
        a restart is not, since it must come back where its clients expect it."""
        if not self._initialised:
            self._pg(
                "initdb",
                "-D",
                self.data,
                "--auth=trust",
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            )
            self._initialised = True
            for _ in range(4):
                try:
                    self._start()
                    return
                except RuntimeError as error:
                    if not PORT_TAKEN.search(str(error)):
                        raise
                    self.port = free_port()
        self._start()

    def _start(self) -> None:
        options = {**SETTINGS, "port": str(self.port), "unix_socket_directories": str(self.base)}
        flags = " ".join(f"-c {key}={value}" for key, value in options.items())
        done = self._pg(
            "pg_ctl", "start", "-w", "-t", "60", "-D", self.data, "-l", self.log, "-o", flags, check=False
        )
        if done.returncode != 0:
            # A server left half-started would hold the port and the data; if pg_ctl cannot
            # stop it either, the start's own error is the one worth reading.
            with contextlib.suppress(RuntimeError):
                self.stop("immediate")
            raise RuntimeError(
                f"PostgreSQL did not start on port {self.port}: {done.stdout}{self._log_tail()}"
            )
        # pg_ctl -w waits for the postmaster to say it is ready; a first connection confirms
        # it over the same TCP path the tests use.
        deadline = time.monotonic() + 30
        while True:
            try:
                with psycopg.connect(self.url, connect_timeout=2):
                    return
            except psycopg.OperationalError as error:
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"PostgreSQL started but takes no connections: {error}{self._log_tail()}"
                    ) from error
                time.sleep(0.05)

    def stop(self, mode: str = "fast") -> None:
        """``pg_ctl stop -m fast|immediate -w``; nothing to do when the server is not running."""
        if not (self.data / "postmaster.pid").exists():
            return
        done = self._pg("pg_ctl", "stop", "-w", "-t", "60", "-D", self.data, "-m", mode, check=False)
        if done.returncode != 0 and (self.data / "postmaster.pid").exists():
            raise RuntimeError(f"PostgreSQL did not stop: {done.stdout}{self._log_tail()}")

    def restart(self, down_s: float = 0.0) -> None:
        """An outage: stop at once (as a crash would, no shutdown checkpoint), stay down for
        ``down_s`` seconds, then come back on the same port with the same data."""
        self.stop("immediate")
        time.sleep(down_s)
        self._start()

    def create_database(self) -> str:
        """A fresh empty database with a name no other test uses; returns its URL."""
        name = f"wb_{uuid.uuid4().hex}"
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.database_url(name)

    def close(self) -> None:
        """Stop the server and remove its data; safe to call twice (the fixture, then atexit)."""
        if self._closed:
            return
        self._closed = True
        atexit.unregister(self.close)
        try:
            try:
                self.stop("fast")
            except RuntimeError:
                self._kill()
        finally:
            shutil.rmtree(self.base, ignore_errors=True)

    def _kill(self) -> None:
        """The last resort when pg_ctl cannot stop the server: SIGKILL its postmaster, so that
        no server outlives the tests (its backends exit when they see the postmaster gone)."""
        try:
            pid = int((self.data / "postmaster.pid").read_text().split()[0])
            os.kill(pid, signal.SIGKILL)
        except (OSError, ValueError, IndexError):
            pass

    def _pg(self, program: str, *args: str | Path, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run one of the server's programs, as the unprivileged server user when we are root,
        from a directory that user can enter (initdb fails when it cannot read its cwd)."""
        user = self.user
        done = subprocess.run(
            [str(self.bin_dir / program), *map(str, args)],
            cwd=self.base,
            env={**os.environ, "LC_ALL": "C", "HOME": str(self.base)},
            user=user.pw_uid if user else None,
            group=user.pw_gid if user else None,
            extra_groups=[] if user else None,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=120,
        )
        if check and done.returncode != 0:
            raise RuntimeError(f"{program} failed ({done.returncode}): {done.stdout}")
        return done

    def _log_tail(self, lines: int = 30) -> str:
        try:
            tail = self.log.read_text(errors="replace").splitlines()[-lines:]
        except OSError:
            return "\n(no server log)"
        return "\n--- server log (last lines) ---\n" + "\n".join(tail)


@contextlib.contextmanager
def postgres_server() -> Iterator[PostgresServer]:
    """A started server, stopped and removed on exit."""
    server = PostgresServer()
    try:
        server.start()
        yield server
    finally:
        server.close()
