"""What the Browse tests share: a gateway config with a budgeted route, and a finished
compare run (made with the CLI, in this process) to browse."""

from __future__ import annotations

import json
from pathlib import Path

from tests.support.cli import invoke
from tests.support.compare import CAPITALS, Script, Upstream, config_text, prompt_file

MASTER = "wb-master-for-browse-tests-0123456789"
HOSTILE = 'Say <img src=x onerror="window.pwned=1"><script>window.pwned=2</script>'


def config(url: str, retention: str = "full") -> str:
    """cloud-a, cloud-b and judge on the loopback upstream, a route with a budget to cloud-b,
    and the log's retention."""
    route = '[routes.cheap]\ntargets = [{ model = "cloud-b" }]\nbudget_usd = 3.0\n'
    return f'{config_text(url)}\n{route}\n[log]\nretention = "{retention}"\n'


def compare_run(home: Path, cloud: Upstream, script: Script, tmp_path: Path, retention: str) -> str:
    """One finished ``weighbridge compare`` run of two prompts on two models; its id."""
    script.answers["cloud-a"] = {"France": "Paris", "Germany": "Berlin"}
    script.answers["cloud-b"] = {"France": "Lyon", "Germany": "Bonn"}
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.toml").write_text(config(cloud.url, retention))
    path = prompt_file(tmp_path, CAPITALS[:2])
    env = {"WEIGHBRIDGE_HOME": str(home)}
    made = invoke("compare", str(path), "-m", "cloud-a", "-m", "cloud-b", "-q", env=env)
    assert made.returncode == 0, made.stderr
    [listed] = [json.loads(line) for line in invoke("runs", "--json", env=env).stdout.splitlines()]
    return str(listed["id"])
