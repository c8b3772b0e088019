"""The arena page in a real headless Chromium, driven over the DevTools protocol, against the
gateway on a loopback port, served from this process, with the embedded model, a second local
model (the same weights with a terser system prompt) and a replayed upstream whose answer is
hostile HTML.

Each state's screenshot is saved under test-artifacts/web/. The test is skipped, saying so,
on a machine without Chromium (Debian: apt-get install chromium).
"""

from __future__ import annotations

from pathlib import Path

from tests.support.browser import Page, chromium_tab, needs_chromium  # noqa: F401 (the browser fixture)
from tests.support.gateway import serving
from tests.support.openai_samples import chunk
from tests.support.replay import ReplayServer
from tests.support.servers import EMBEDDED_FILE
from weighbridge.targets import weight_path

pytestmark = needs_chromium
MASTER = "wb-master-for-browser-tests-0123456789"
HOSTILE = 'Look: <img src=x onerror="window.pwned=1"> and <script>window.pwned=2</script> `<b>x</b>`'


def config(replay_url: str) -> str:
    return f"""
[models.smol-terse]
file = "{weight_path(EMBEDDED_FILE)}"
system_prompt = "You are terse. Answer in five words or fewer."

[providers.replay]
type = "openai"
base_url = "{replay_url}"

[models.hostile]
provider = "replay"
model = "gpt-4o-mini"
price = {{ input_per_mtok = 0.15, output_per_mtok = 0.6, as_of = "2024-07-18", source = "test" }}
"""


def test_playground_arena_and_hostile_answer(browser: Page, upstream: ReplayServer, home: Path) -> None:
    with serving(home, config=config(upstream.url)) as base:
        browser.go(base + "/")
        listed = browser.wait("[...document.querySelectorAll('#models input')].map(b => b.value)")
        assert {"smollm2-135m", "smol-terse", "hostile"} == set(listed)  # runnable ones to pick
        why = browser.js("document.querySelector('#unavailable ul').textContent")
        assert "gpt-5 set OPENAI_API_KEY" in why  # the others say why not
        assert browser.js("document.getElementById('task-row').offsetParent === null")  # arena only

        # Two local models stream side by side and finish with their figures.
        browser.pick("smollm2-135m", "smol-terse")
        browser.fill("prompt", "What is the capital of France?")
        browser.fill("max-tokens", 12)
        browser.click("#run")
        browser.wait("document.querySelectorAll('.column .state.done').length === 2", timeout=120)
        figures = browser.js(
            "[...document.querySelectorAll('.column')].map(c => Object.fromEntries("
            "[...c.querySelectorAll('[data-figure]')].map(f => [f.dataset.figure, f.querySelector('b').textContent])))"
        )
        for column in figures:
            assert column["ttft"].endswith(" s") and column["latency"].endswith(" s")
            assert int(column["tokens"]) > 0 and column["tps"] != "–"
        browser.wait(
            "[...document.querySelectorAll('[data-figure=cost] b')].every(b => b.textContent !== '–')"
        )
        assert browser.js("document.querySelectorAll('.column .answer')[0].textContent.length") > 0
        browser.shot("1-playground-finished")

        # A hostile answer is shown as text: no element made from it, no script run.
        upstream.reply_sse(
            [
                chunk({"role": "assistant", "content": ""}) + "\n\n",
                chunk({"content": HOSTILE}) + "\n\n",
                chunk({}, finish="stop") + "\n\n",
                "data: [DONE]\n\n",
            ]
        )
        browser.pick("hostile", "smol-terse")
        browser.click("#run")
        browser.wait("document.querySelectorAll('.column .state.done').length === 2", timeout=120)
        answer = browser.js("document.querySelectorAll('.column .answer')[0].textContent")
        assert "<img src=x onerror=" in answer and "<script>" in answer
        assert browser.js("document.querySelectorAll('.answer img, .answer script, .answer b').length") == 0
        assert browser.js("document.querySelector('.answer code').textContent") == "<b>x</b>"
        assert browser.js("window.pwned === undefined")
        browser.shot("2-hostile-answer-inert")

        # Stop cancels both: a slow replayed stream and a long local answer.
        upstream.reply_sse(
            [chunk({"role": "assistant", "content": ""}) + "\n\n"]
            + [chunk({"content": f"word{i} "}) + "\n\n" for i in range(60)]
            + ["data: [DONE]\n\n"],
            delay_s=0.25,
        )
        browser.pick("hostile", "smollm2-135m")
        browser.fill("prompt", "Write a long story about a lighthouse keeper.")
        browser.fill("max-tokens", 400)
        browser.click("#run")
        browser.wait("[...document.querySelectorAll('.column .answer')].some(a => a.textContent.length > 0)")
        browser.click("#stop")
        browser.wait("document.querySelectorAll('.column .state.error').length === 2", timeout=30)
        assert browser.statuses() == ["stopped", "stopped"]
        assert browser.js("document.getElementById('ask-status').textContent") == "stopped"
        browser.shot("3-stopped")

        # Arena: a blind pair, a vote, the names revealed, the leaderboard moved.
        browser.click("#tab-arena")
        browser.pick("smollm2-135m", "smol-terse")
        browser.fill("task", "code")
        browser.fill("prompt", "Say hello.")
        browser.fill("max-tokens", 8)
        browser.click("#run")
        browser.wait("!document.getElementById('vote').hidden", timeout=120)
        headings = browser.js("[...document.querySelectorAll('.column h3')].map(h => h.textContent)")
        assert headings == ["Model A", "Model B"]
        assert browser.js(
            "[...document.querySelectorAll('[data-figure=cost] b')].map(b => b.textContent)"
        ) == [
            "–",
            "–",
        ]  # a cost would hint at the model: shown after the vote
        browser.shot("4-arena-blind")
        browser.click("#vote button[data-outcome=a]")
        browser.wait("document.getElementById('vote-result').textContent.startsWith('Vote saved')")
        revealed = browser.js("[...document.querySelectorAll('.column h3')].map(h => h.textContent)")
        assert {r.split(": ")[1] for r in revealed} == {"smollm2-135m", "smol-terse"}
        winner = revealed[0].split(": ")[1]
        browser.wait(
            "[...document.querySelectorAll('[data-figure=cost] b')].every(b => b.textContent !== '–')"
        )
        browser.shot("5-arena-revealed")

        browser.click("#tab-board")
        browser.wait("document.querySelectorAll('#board-table tbody tr').length === 2")
        assert browser.js("document.querySelector('#board-table tbody td.name').textContent") == winner
        assert browser.js("document.getElementById('board-summary').textContent").startswith("1 votes")
        browser.shot("6-leaderboard")


def test_master_key_page_refuses_a_visitor_without_one(browser: Page, home: Path) -> None:
    with serving(home, master_key=MASTER) as base:
        browser.send(
            "Emulation.setDeviceMetricsOverride", width=375, height=800, deviceScaleFactor=1, mobile=True
        )
        browser.go(base + "/")
        browser.wait("!document.getElementById('login').hidden")
        assert browser.js("document.getElementById('ask').hidden && document.getElementById('board').hidden")
        assert browser.js("document.getElementById('models').children.length") == 0
        browser.shot("7-key-asked")
        browser.fill("login-key", "wb-wrong-key")
        browser.click("#login-form button")
        browser.wait("document.getElementById('login-error').textContent.includes('invalid')")
        browser.fill("login-key", MASTER)
        browser.click("#login-form button")
        browser.wait(
            "!document.getElementById('ask').hidden && document.querySelectorAll('#models input').length > 0"
        )
        assert browser.js(
            "document.cookie + JSON.stringify(sessionStorage) + JSON.stringify(localStorage)"
        ) == ("{}{}")  # the key went to an HttpOnly cookie: nothing on the page can read it back
        assert (
            browser.js("document.documentElement.scrollWidth") <= 375
        )  # readable at 375 px: no sideways scroll
        browser.shot("8-key-accepted-375px")
        browser.go(base + "/")  # the session outlives a reload, and signing out ends it
        browser.wait(
            "!document.getElementById('ask').hidden && document.querySelectorAll('#models input').length > 0"
        )
        signed_out = (
            "fetch('/session', {method: 'DELETE', headers: {'X-CSRF-Token': state.csrf}}).then(r => r.status)"
        )
        assert browser.js(signed_out) == 200
        browser.go(base + "/")
        browser.wait("!document.getElementById('login').hidden")
