"""promptfoo (the npm package, unmodified) evaluating the embedded model through the gateway
with its stock ``openai:chat`` and ``openai:completion`` providers and a virtual key. The
gateway runs in this process on a real port (promptfoo is a process of its own), and the
``weighbridge`` commands run in this process too."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.cli import invoke
from tests.support.gateway import serving
from tests.support.paths import ROOT

PROMPTFOO = ROOT / "tests" / "tools" / "node_modules" / ".bin" / "promptfoo"
MASTER = "wb-master-for-promptfoo-0123456789"


@pytest.fixture
def gateway(home: Path) -> Iterator[str]:
    with serving(home, master_key=MASTER) as base:
        yield base


def promptfoo_eval(tmp_path: Path, config: str, key: str) -> tuple[int, dict[str, object]]:
    if not PROMPTFOO.exists():
        pytest.fail("promptfoo is not installed: run ./setup.sh --dev (it needs Node.js 20.20+ and npm)")
    (tmp_path / "promptfooconfig.yaml").write_text(config)
    env = dict(
        os.environ,
        OPENAI_API_KEY=key,
        PROMPTFOO_DISABLE_TELEMETRY="1",
        PROMPTFOO_DISABLE_UPDATE="1",
        PROMPTFOO_CONFIG_DIR=str(tmp_path / "promptfoo-home"),
    )
    run = subprocess.run(
        [str(PROMPTFOO), "eval", "-c", "promptfooconfig.yaml", "-o", "out.json", "--no-cache", "--no-progress-bar"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert (tmp_path / "out.json").exists(), run.stdout[-2000:] + run.stderr[-2000:]
    return run.returncode, json.loads((tmp_path / "out.json").read_text())


def config(base: str, *, paris_check: str) -> str:
    provider_config = f"{{apiBaseUrl: '{base}/v1', temperature: 0, max_tokens: 16}}"
    return f"""
prompts:
  - "The capital of {{{{country}}}} is"
providers:
  - {{id: "openai:chat:smollm2-135m", config: {provider_config}}}
  - {{id: "openai:completion:smollm2-135m", config: {provider_config}}}
tests:
  - vars: {{country: France}}
    assert: [{{type: icontains, value: {paris_check}}}]
  - vars: {{country: Japan}}
    assert: [{{type: icontains, value: tokyo}}]
"""


def outputs(report: dict[str, object]) -> list[tuple[str, str, bool]]:
    results = report["results"]["results"]  # type: ignore[index]
    return sorted((r["provider"]["id"], r["response"]["output"], r["success"]) for r in results)


def test_promptfoo_eval_passes_through_the_gateway(gateway: str, tmp_path: Path) -> None:
    made = invoke("keys", "create", "--name", "promptfoo-ci", "--models", "smollm2-135m")
    assert made.returncode == 0, made.stderr
    code, report = promptfoo_eval(tmp_path, config(gateway, paris_check="paris"), made.stdout.strip())
    assert code == 0
    got = outputs(report)
    assert [provider for provider, _, _ in got] == ["openai:chat:smollm2-135m"] * 2 + [
        "openai:completion:smollm2-135m"
    ] * 2
    assert all(ok for _, _, ok in got), got
    logged = [json.loads(line) for line in invoke("logs", "--json", "-n", "10").stdout.splitlines()]
    assert len(logged) == 4 and {r["key_name"] for r in logged} == {"promptfoo-ci"}


def test_promptfoo_reports_a_failed_assertion(gateway: str, tmp_path: Path) -> None:
    made = invoke("keys", "create", "--name", "promptfoo-fail")
    code, report = promptfoo_eval(tmp_path, config(gateway, paris_check="berlin"), made.stdout.strip())
    assert code != 0  # promptfoo's own exit code for failed assertions, as CI would see it
    assert [ok for provider, output, ok in outputs(report) if "France" in output or "Paris" in output] == [
        False,
        False,
    ]


def test_promptfoo_with_a_wrong_key_fails_cleanly(gateway: str, tmp_path: Path) -> None:
    code, report = promptfoo_eval(tmp_path, config(gateway, paris_check="paris"), "wb-not-a-real-key")
    assert code != 0
    errors = [r.get("error") or "" for r in report["results"]["results"]]  # type: ignore[index]
    assert errors and all("401" in e or "key" in e.lower() for e in errors), errors
