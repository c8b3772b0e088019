"""The commands against a real loopback upstream, through the CLI in this process (the same
parsing, output and exit codes as the console script): exit codes for CI, Ctrl-C and resume,
``runs`` and ``show`` from the store alone, the files written. Ctrl-C is sent to the console
script in a process of its own, as a terminal sends it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.cli import WEIGHBRIDGE, invoke
from tests.support.compare import CAPITALS, Script, Upstream, config_text, prompt_file


@pytest.fixture
def cloud(home: Path, script: Script) -> Iterator[Upstream]:
    with Upstream(script) as server:
        home.mkdir(parents=True, exist_ok=True)
        (home / "config.toml").write_text(config_text(server.url))
        yield server


def test_fail_on_assert_exits_1_when_a_check_fails(cloud: Upstream, script: Script, tmp_path: Path) -> None:
    script.answers["cloud-a"] = {"France": "Paris", "Germany": "Bonn"}
    path = prompt_file(tmp_path, CAPITALS[:2])
    plain = invoke("compare", str(path), "-m", "cloud-a", "-q")
    assert plain.returncode == 0, plain.stderr
    assert "score (95% CI)" in plain.stdout and "0.50" in plain.stdout
    strict = invoke("compare", str(path), "-m", "cloud-a", "-q", "--fail-on-assert")
    assert strict.returncode == 1
    assert "1 answer(s) failed their checks" in strict.stderr
    script.answers["cloud-a"]["Germany"] = "Berlin"
    passing = invoke("compare", str(path), "-m", "cloud-a", "-q", "--fail-on-assert", "--no-cache")
    assert passing.returncode == 0, passing.stderr


def test_runs_and_show_read_the_store_and_call_no_model(
    cloud: Upstream, script: Script, tmp_path: Path
) -> None:
    script.answers["cloud-a"] = {"France": "Paris", "Germany": "Berlin"}
    script.answers["cloud-b"] = {"France": "Lyon", "Germany": "Berlin"}
    path = prompt_file(tmp_path, CAPITALS[:2])
    first = invoke("compare", str(path), "-m", "cloud-a", "-m", "cloud-b", "--html", str(tmp_path / "a.html"))
    assert first.returncode == 0, first.stderr
    assert "Paris" in first.stdout and "Lyon" in first.stdout  # the answers, side by side
    assert (tmp_path / "a.html").read_text().startswith("<!DOCTYPE html>")
    calls = len(cloud.requests)

    listed = invoke("runs", "--json")
    [run] = [json.loads(line) for line in listed.stdout.splitlines()]
    assert run["status"] == "complete" and run["answers"] == 4 and run["models"] == ["cloud-a", "cloud-b"]
    shown = invoke(
        "show", run["id"][:5], "--json", str(tmp_path / "run.json"), "--csv", str(tmp_path / "run.csv")
    )
    assert shown.returncode == 0, shown.stderr
    assert "Best score: cloud-a" in shown.stdout and "Lyon" in shown.stdout
    assert json.loads((tmp_path / "run.json").read_text())["run"]["id"] == run["id"]
    assert len((tmp_path / "run.csv").read_text().splitlines()) == 5
    assert len(cloud.requests) == calls

    missing = invoke("show", "nope")
    assert (
        missing.returncode == 2 and missing.stderr == "error: no run 'nope': 'weighbridge runs' lists them\n"
    )


def test_ctrl_c_keeps_what_finished_and_the_same_command_resumes(
    home: Path, cloud: Upstream, script: Script, tmp_path: Path
) -> None:
    path = prompt_file(tmp_path, CAPITALS)
    script.answers["cloud-a"] = {"France": "Paris", "Germany": "Berlin", "Italy": (200, "Rome", 30.0)}
    command = [WEIGHBRIDGE, "compare", str(path), "-m", "cloud-a", "--concurrency", "1", "-q"]
    proc = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ)
    )
    deadline = time.monotonic() + 60
    while len(cloud.requests) < 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    # The kernel hands a process's signal to any of its threads that takes it: sent to one that
    # is not the main thread (os.kill on a thread id prefers that thread), it once waited for
    # the held answer (30 s) before the run noticed.
    threads = sorted(int(tid) for tid in os.listdir(f"/proc/{proc.pid}/task"))
    os.kill(threads[-1], signal.SIGINT)
    _, err = proc.communicate(timeout=20)
    assert proc.returncode == 130, err
    assert "run the same command again to resume" in err

    script.answers["cloud-a"] = {"Italy": "Rome", "Spain": "Madrid"}
    again = invoke(*command[1:])
    assert again.returncode == 0, again.stderr
    assert sorted(cloud.asked("cloud-a")[3:]) == ["Capital of Italy?", "Capital of Spain?"]
    assert "4 (2 cached)" in again.stdout
    listed = [json.loads(line) for line in invoke("runs", "--json").stdout.splitlines()]
    assert [r["status"] for r in listed] == ["complete", "interrupted"]


def test_a_bad_prompt_file_is_one_line_and_exit_2(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"prompt": "ok"}\n{"prompt": "Hi {{name}}"}\n')
    result = invoke("compare", str(path))
    assert result.returncode == 2
    assert result.stderr == (
        f"error: {path}:2: test 2: template variable missing: 'name' is undefined (defined: none)\n"
    )
