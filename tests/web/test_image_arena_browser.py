"""The arena's image mode in a real headless Chromium, driven over the DevTools protocol,
against the gateway on a loopback port with two tiny Stable Diffusion pipelines on the real
diffusers provider: a blind pair of pictures, a vote, the names revealed with each picture's
latency and cost, and the image leaderboard moved.

Each state's screenshot is saved under test-artifacts/web/. The test is skipped, saying so,
on a machine without Chromium (Debian: apt-get install chromium).
"""

from __future__ import annotations

from pathlib import Path

from tests.support.browser import Page, chromium_tab, needs_chromium  # noqa: F401 (the browser fixture)
from tests.support.gateway import serving
from tests.web.test_browse_browser import UNLABELLED, UNREACHABLE
from tests.web.test_image_arena import IMAGES, image_models, other_sd  # noqa: F401 (a fixture)

pytestmark = needs_chromium
FIGURES = "[...document.querySelectorAll('[data-figure=%s] b')].map(b => b.textContent)"


def test_image_arena_vote_and_board(browser: Page, home: Path, tiny_sd: Path, other_sd: Path) -> None:  # noqa: F811
    with serving(home, config=image_models(tiny_sd, other_sd)) as base:
        browser.go(base + "/")
        browser.wait("document.querySelectorAll('#models input').length > 0")
        browser.click("#tab-arena")
        assert browser.js("document.getElementById('kind-chat').getAttribute('aria-pressed')") == "true"
        browser.click("#kind-image")
        listed = browser.wait("[...document.querySelectorAll('#models input')].map(b => b.value)")
        assert set(listed) == set(IMAGES)  # image models only, and both picked
        assert browser.js("document.getElementById('system').offsetParent === null")  # chat's options go
        assert browser.js(UNLABELLED) == [] and browser.js(UNREACHABLE) == []

        browser.fill("task", "art")
        browser.fill("prompt", "a red bicycle")
        browser.fill("quality", "low")  # a quarter of the pipeline's steps: quicker pictures
        browser.click("#run")
        browser.wait("!document.getElementById('vote').hidden", timeout=60)
        widths = browser.js("[...document.querySelectorAll('.column .answer img')].map(i => i.naturalWidth)")
        assert widths == [32, 32]  # both pictures decoded
        sources = browser.js("[...document.querySelectorAll('.column .answer img')].map(i => i.src)")
        assert all(src.startswith("data:image/png;base64,") for src in sources) and sources[0] != sources[1]
        headings = browser.js("[...document.querySelectorAll('.column h3')].map(h => h.textContent)")
        assert headings == ["Model A", "Model B"]
        assert browser.js(FIGURES % "cost") == ["–", "–"]  # the figures would hint at the model
        assert browser.js(FIGURES % "latency") == ["–", "–"]
        assert browser.js("document.activeElement.dataset.outcome") == "a"  # the vote has the focus
        browser.shot("image-arena-1-pair")

        browser.click("#vote button[data-outcome=a]")
        browser.wait("document.getElementById('vote-result').textContent.startsWith('Vote saved (art)')")
        revealed = browser.js("[...document.querySelectorAll('.column h3')].map(h => h.textContent)")
        assert {r.split(": ")[1] for r in revealed} == set(IMAGES)
        winner = revealed[0].split(": ")[1]
        browser.wait(f"{FIGURES % 'cost'}.every(t => t.startsWith('$'))")
        assert all(t.endswith(" s") for t in browser.js(FIGURES % "latency"))
        browser.shot("image-arena-2-voted")

        browser.click("#tab-board")
        browser.click("#board-kind-image")
        browser.wait("document.querySelectorAll('#board-table tbody tr').length === 2")
        assert browser.js("document.querySelector('#board-table tbody td.name').textContent") == winner
        assert browser.js("document.getElementById('board-summary').textContent").startswith("1 votes")
        head = browser.js("[...document.querySelectorAll('#board-table th')].map(h => h.textContent)")
        assert head[-2:] == ["Median latency / image", "$ / image"]
        cells = browser.js(
            "[...document.querySelectorAll('#board-table tbody tr')[0].cells].map(c => c.textContent)"
        )
        assert cells[-2].endswith(" s") and cells[-1].startswith("$")
        assert browser.js(UNLABELLED) == [] and browser.js(UNREACHABLE) == []
        browser.shot("image-arena-3-board")

        browser.click("#board-kind-chat")  # the chat board counts no picture's vote
        browser.wait("document.getElementById('board-summary').textContent.startsWith('0 votes')")
        assert browser.js("document.querySelectorAll('#board-table tbody tr').length") == 0
