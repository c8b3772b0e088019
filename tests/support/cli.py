"""The CLI two ways: in this process through click's runner (most tests: the same parsing,
output and exit codes, without starting an interpreter), and as the installed console script
in a process of its own (what only a process shows: signals, a terminal, stdin as a pipe)."""

from __future__ import annotations

import os
import subprocess
import sys
import traceback
from pathlib import Path

from click.testing import CliRunner

from weighbridge.cli import cli


def invoke(
    *args: str, input: str | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``weighbridge ARGS`` in this process, answered as :func:`run_cli` answers: exit code,
    stdout and stderr. An exception the command lets out is printed to stderr as the console
    script would print it (a traceback, exit code 1), so "never a traceback" still fails.
    The environment is put back afterwards, whatever the command set in it."""
    saved = dict(os.environ)
    try:
        result = CliRunner().invoke(cli, list(args), input=input, env=env, prog_name="weighbridge")
    finally:
        os.environ.clear()
        os.environ.update(saved)
    stderr, code = result.stderr, result.exit_code
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        assert result.exc_info is not None
        stderr += "".join(traceback.format_exception(*result.exc_info))
        code = 1
    return subprocess.CompletedProcess(["weighbridge", *args], code, result.stdout, stderr)


#: The installed console script, so CLI tests run exactly what a user runs.
WEIGHBRIDGE = str(Path(sys.executable).parent / "weighbridge")


def run_cli(
    *args: str, input: str | None = None, timeout: float = 120, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """The console script as a user runs it; ``env`` adds to (or overrides) the environment."""
    return subprocess.run(
        [WEIGHBRIDGE, *args],
        input=input,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **env} if env else None,
    )
