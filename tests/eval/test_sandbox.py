"""The sandbox that runs model-written code (HumanEval): each hostile program here is one a model
could write, and each test checks that it is contained on this machine, or, where the machine
lacks a layer, that ``not_contained()`` says so."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid

import pytest

from weighbridge.eval.sandbox import Limits, isolation, not_contained, run_program

# HumanEval/0, as the harness assembles it: prompt, completion, test, then the call of check.
PROMPT = '''from typing import List


def has_close_elements(numbers: List[float], threshold: float) -> bool:
    """ Check if in given list of numbers, are any two numbers closer to each other than
    given threshold.
    """
'''
RIGHT = """    for i, a in enumerate(numbers):
        for j, b in enumerate(numbers):
            if i != j and abs(a - b) < threshold:
                return True
    return False
"""
WRONG = "    return False\n"
TEST = """

def check(candidate):
    assert candidate([1.0, 2.0, 3.9, 4.0, 5.0, 2.2], 0.3) == True
    assert candidate([1.0, 2.0, 3.0], 0.5) == False


check(has_close_elements)
"""


def survivors(marker: str, within: float = 2.0) -> list[str]:
    """Processes whose command line holds ``marker`` (as ``pgrep -f`` finds them), allowing a
    killed process a moment to be gone."""
    deadline = time.monotonic() + within
    while True:
        found = []
        for pid in os.listdir("/proc"):
            if not pid.isdigit() or int(pid) == os.getpid():
                continue
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as file:
                    if marker.encode() in file.read():
                        found.append(pid)
            except OSError:
                continue
        if not found or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def test_a_correct_solution_passes() -> None:
    outcome = run_program(PROMPT + RIGHT + TEST)
    assert (outcome.passed, outcome.status) == (True, "passed"), outcome.detail


def test_a_wrong_solution_fails_with_its_assertion() -> None:
    outcome = run_program(PROMPT + WRONG + TEST)
    assert (outcome.passed, outcome.status) == (False, "failed")
    assert "AssertionError" in outcome.detail
    assert "assert candidate([1.0, 2.0, 3.9, 4.0, 5.0, 2.2], 0.3) == True" in outcome.detail


def test_exiting_before_the_checks_is_a_failure_as_in_the_reference_harness() -> None:
    # The reference harness runs the program with exec, where sys.exit() raises SystemExit.
    outcome = run_program(PROMPT + "    pass\n\nexit(0)\n" + TEST)
    assert (outcome.passed, outcome.status) == (False, "failed")
    assert "SystemExit" in outcome.detail


def test_the_detail_is_the_end_of_stderr_and_short() -> None:
    outcome = run_program(
        "import sys\nfor i in range(5000):\n    print('noise', i, file=sys.stderr)\nassert False, 'the end'\n"
    )
    assert outcome.status == "failed"
    assert len(outcome.detail) <= 2100
    assert outcome.detail.endswith("AssertionError: the end")


def test_no_connection_reaches_a_listener_on_this_machine() -> None:
    if "netns" not in isolation():
        assert any(line.startswith("network:") for line in not_contained()), not_contained()
        pytest.skip("no network namespace on this machine (not_contained() says so)")
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        program = f"""
import socket, sys
try:
    socket.create_connection(("127.0.0.1", {port}), timeout=3).close()
except OSError as err:
    print("refused:", err, file=sys.stderr)
else:
    raise AssertionError("CONNECTED")
"""
        outcome = run_program(program)
        listener.setblocking(False)
        with pytest.raises(BlockingIOError):
            listener.accept()
    assert outcome.passed, outcome.detail
    assert "refused" in outcome.detail


def test_a_fork_bomb_is_contained_and_leaves_nothing() -> None:
    marker = f"wb-fork-bomb-{uuid.uuid4().hex}"
    # Where a PID namespace holds them, the children also try to leave the process group.
    escape = "os.setsid()" if "pidns" in isolation() else "pass"
    bomb = f"import os, time\n# {marker}\nwhile True:\n    try:\n        if os.fork() == 0:\n            try:\n                {escape}\n            except OSError:\n                pass\n    except OSError:\n        time.sleep(0.01)\n"
    program = f"import os, sys\nos.execv(sys.executable, [sys.executable, '-c', {bomb!r}])\n"
    start = time.monotonic()
    outcome = run_program(program, Limits(timeout_s=2, processes=16))
    assert outcome.status == "timeout", outcome
    assert time.monotonic() - start < 8
    assert survivors(marker) == []


def test_a_huge_file_stops_at_the_file_size_limit_and_the_directory_goes() -> None:
    program = """
import os, sys
print("cwd", os.getcwd(), file=sys.stderr, flush=True)
with open("huge.bin", "wb") as file:
    for _ in range(1024):
        file.write(b"x" * (1024 * 1024))
"""
    outcome = run_program(program, Limits(file_size_mb=4))
    assert outcome.status == "failed", outcome
    assert "File too large" in outcome.detail
    workdir = outcome.detail.split("cwd ", 1)[1].split("\n", 1)[0]
    assert workdir.startswith("/") and not os.path.exists(workdir)


def test_tmp_is_the_sandboxs_own_so_samples_run_at_once_never_meet() -> None:
    if "private-tmp" not in isolation():
        assert any("temporary directories of other programs" in line for line in not_contained())
        pytest.skip("no mount namespace on this machine (not_contained() says so)")
    marker = f"wb-tmp-{uuid.uuid4().hex}"
    program = f"import os\nopen('/tmp/{marker}', 'w').close()\nassert os.listdir('/tmp') == ['{marker}']\n"
    outcome = run_program(program)
    assert outcome.passed, outcome.detail
    assert not os.path.exists(f"/tmp/{marker}")


def test_a_sleeper_is_killed_at_the_wall_clock_with_its_group() -> None:
    marker = f"wb-sleeper-{uuid.uuid4().hex}"
    program = f"""
import os, sys
os.fork()  # two of them, in one process group
os.execv(sys.executable, [sys.executable, "-c", "import time; time.sleep(3600)", "{marker}"])
"""
    outcome = run_program(program, Limits(timeout_s=2))
    assert outcome.status == "timeout"
    assert "wall clock" in outcome.detail
    assert 2 <= outcome.seconds < 6
    assert survivors(marker) == []


def test_a_cpu_burner_ends_at_the_cpu_limit() -> None:
    outcome = run_program("while True:\n    pass\n", Limits(cpu_s=1, timeout_s=20))
    assert outcome.status == "timeout"
    assert "CPU limit" in outcome.detail
    assert outcome.seconds < 10


def test_the_environment_and_other_processes_secrets_are_out_of_reach(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("WB_SANDBOX_SECRET", "s3cr3t")
    # A process started with the secret in its environment, as a gateway with its keys is.
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], env=dict(os.environ))
    try:
        program = """
import os, sys
secret = "s3c" + "r3t"
print(dict(os.environ))
print(dict(os.environ), file=sys.stderr)
if secret in repr(dict(os.environ)) or "WB_SANDBOX_SECRET" in os.environ:
    print("ENV-LEAK", file=sys.stderr)
for pid in filter(str.isdigit, os.listdir("/proc")):
    try:
        with open("/proc/%s/environ" % pid, "rb") as file:
            if secret.encode() in file.read():
                print("PROC-LEAK", pid, file=sys.stderr)
    except OSError:
        pass
"""
        outcome = run_program(program)
    finally:
        holder.kill()
        holder.wait()
    assert outcome.passed, outcome.detail
    assert "s3cr3t" not in outcome.detail
    assert "ENV-LEAK" not in outcome.detail
    if {"unprivileged-user", "private-proc"} & set(isolation()):
        assert "PROC-LEAK" not in outcome.detail
    else:
        assert any("/proc/PID/environ" in line for line in not_contained())


def test_allocating_4_gb_fails() -> None:
    outcome = run_program("block = bytearray(4 * 1024**3)\n")
    assert outcome.status == "failed"
    assert "MemoryError" in outcome.detail


def test_what_is_applied_and_what_is_not_is_said() -> None:
    applied = isolation()
    assert {"process", "tempdir", "empty-env", "rlimits"} <= set(applied)
    gaps = not_contained()
    assert any("side channels" in line for line in gaps)
    assert ("netns" in applied) != any(line.startswith("network:") for line in gaps)


def test_limits_must_be_positive() -> None:
    with pytest.raises(ValueError, match="timeout_s"):
        Limits(timeout_s=0)
