"""Provider types are an open registry: a package that declares one in the
``weighbridge.providers`` entry-point group is configured, routed to and logged like a built-in,
and what it declares (its capabilities) is all the rest of weighbridge asks of it.

The CLI runs in this process: the plugin is put on ``sys.path`` as an installed package is, and
the registry reads the entry points again, as a new process would."""

from __future__ import annotations

import json
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.cli import invoke
from tests.support.replay import ReplayServer
from weighbridge.plugins import provider_class, provider_types

PLUGIN = '''
"""A third party's provider: its own wire format (POST /shout), on the shared HTTP pool."""

from weighbridge.capabilities import Capabilities
from weighbridge.types import Completion, StreamChunk, Usage


class ShoutProvider:
    capabilities = Capabilities(weights="remote", operations=frozenset({"chat"}))

    def __init__(self, http):
        self._http = http

    async def complete(self, target, request):
        asked = request.messages[-1].content
        response = await self._http.post(target.provider.base_url + "/shout", json={"say": asked})
        said = response.json()["said"]
        return Completion(
            content=said, finish_reason="stop", usage=Usage(prompt_tokens=3, completion_tokens=2),
            upstream_model=target.upstream,
        )

    async def stream(self, target, request):
        done = await self.complete(target, request)
        yield StreamChunk(text=done.content)
        yield StreamChunk(finish_reason="stop", usage=done.usage)

    async def aclose(self):
        pass
'''


def _forget_installed_types() -> None:
    """The registry caches what it found; drop that, so the next look reads what is installed."""
    provider_types.cache_clear()
    provider_class.cache_clear()


@pytest.fixture
def plugin_site(tmp_path: Path) -> Iterator[Path]:
    """The plugin as pip installs it: a module and a dist-info whose entry point names it, on
    ``sys.path`` for the test (and uninstalled after it)."""
    site = tmp_path / "site"
    dist = site / "weighbridge_shout-0.1.dist-info"
    dist.mkdir(parents=True)
    (site / "weighbridge_shout.py").write_text(textwrap.dedent(PLUGIN))
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: weighbridge-shout\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(
        "[weighbridge.providers]\nshout = weighbridge_shout:ShoutProvider\n"
    )
    sys.path.insert(0, str(site))
    _forget_installed_types()
    try:
        yield site
    finally:
        sys.path.remove(str(site))
        sys.modules.pop("weighbridge_shout", None)
        _forget_installed_types()


def test_the_built_in_types_come_through_the_same_registry() -> None:
    assert {"openai", "anthropic", "gemini", "llamacpp"} <= set(provider_types())


def test_a_plugin_provider_is_configured_routed_to_and_logged(
    plugin_site: Path, home: Path, upstream: ReplayServer
) -> None:
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.toml").write_text(
        f"""
[providers.loud]
type = "shout"
base_url = "{upstream.url}"
data_leaves_machine = false
[models.loud-model]
provider = "loud"
model = "loud-1"
[routes.careful]
privacy = "local-only"
targets = [{{ model = "loud-model" }}]
"""
    )
    upstream.reply_json({"said": "HELLO THERE"})
    # through a local-only route: the config says this endpoint keeps data home
    answer = invoke("run", "-m", "careful", "hello there, jane@example.com")
    assert answer.returncode == 0, answer.stderr
    assert answer.stdout.strip() == "HELLO THERE"
    assert upstream.requests[-1].body == {"say": "hello there, jane@example.com"}
    logged = invoke("logs", "--json", "-n", "1")
    record = json.loads(logged.stdout.splitlines()[0])
    assert record["model"] == "loud-model" and record["provider"] == "loud" and record["route"] == "careful"


def test_without_the_plugin_its_type_is_a_config_error_naming_the_installed_ones(home: Path) -> None:
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.toml").write_text('[providers.loud]\ntype = "shout"\nbase_url = "http://127.0.0.1:9"\n')
    result = invoke("models")
    assert result.returncode == 2
    assert "providers.loud.type" in result.stderr and "no provider of type 'shout'" in result.stderr
    assert "openai" in result.stderr
