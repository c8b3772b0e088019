"""The HTML report opened in headless Chromium: it renders, offline, with its charts drawn.

The proof that the charts render is in the pixels: the screenshot of the report holds many
more pixels of each model's colour than the screenshot of the same report with the charts
taken out (the summary's colour key is in both). Chromium is the Debian package; the test is
skipped, saying so, on a machine without it.
"""

from __future__ import annotations

import io
import re
import shutil
import struct
import subprocess
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from tests.support.compare import CAPITALS, Script, Upstream, config_text, prompt_file, run
from weighbridge.client import Client
from weighbridge.compare import charts, html_report
from weighbridge.compare.recommend import recommend
from weighbridge.compare.stats import summarise
from weighbridge.config import load_settings

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="needs Chromium (Debian: apt-get install chromium)")


def screenshot(page: Path, out: Path) -> Counter[tuple[int, int, int]]:
    """Render ``page`` in headless Chromium with the network off; count the pixels by colour."""
    assert CHROMIUM is not None
    subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--force-device-scale-factor=1",
            "--proxy-server=127.0.0.1:9",  # anything the page tried to fetch would fail
            "--window-size=1280,1400",
            f"--screenshot={out}",
            page.as_uri(),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    return Counter(png_pixels(out.read_bytes()))


def png_pixels(data: bytes) -> list[tuple[int, int, int]]:
    """The RGB pixels of an 8-bit, non-interlaced RGB or RGBA PNG (what Chromium writes). Pillow
    (a dependency of matplotlib's) decodes them: decoding in Python took seconds a screenshot."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"  # IHDR comes first
    width, height, depth, color_type, _, _, interlace = struct.unpack(">IIBBBBB", data[16:29])
    assert depth == 8 and color_type in (2, 6) and interlace == 0
    with Image.open(io.BytesIO(data)) as image:
        assert image.size == (width, height)
        raw = image.convert("RGB").tobytes()  # RGBA to RGB drops the alpha channel, as before
    return list(zip(raw[0::3], raw[1::3], raw[2::3], strict=True))


def rgb(hex_color: str) -> tuple[int, int, int]:
    value = int(hex_color.lstrip("#"), 16)
    return (value >> 16) & 0xFF, (value >> 8) & 0xFF, value & 0xFF


def test_the_report_renders_in_chromium_with_its_charts(
    client: Client, script: Script, tmp_path: Path
) -> None:
    script.answers["cloud-a"] = {"France": "Paris", "Germany": "Berlin", "Italy": "Rome"}
    script.answers["cloud-b"] = {"France": "Lyon", "Germany": "Berlin", "Italy": "Milan"}
    results = run(client, prompt_file(tmp_path, CAPITALS[:3]), models=["cloud-a", "cloud-b"])
    summaries = summarise(results)
    html = html_report.render(results, summaries, recommend(results, summaries))
    with_charts, without = tmp_path / "report.html", tmp_path / "bare.html"
    with_charts.write_text(html, encoding="utf-8")
    without.write_text(re.sub(r'<div class="charts">.*?</div>', "", html, flags=re.S), encoding="utf-8")

    drawn = screenshot(with_charts, tmp_path / "report.png")
    bare = screenshot(without, tmp_path / "bare.png")
    assert len(drawn) > 50  # text, tables and charts, not a blank page
    for index in range(2):  # each model's points: two charts, a filled circle in each
        colour = rgb(charts.color(index))
        assert drawn[colour] - bare[colour] > 50, f"model {index}'s chart points are not drawn"


@pytest.fixture
def client(home: Path, script: Script) -> Iterator[Client]:
    with Upstream(script) as server:
        home.mkdir(parents=True, exist_ok=True)
        (home / "config.toml").write_text(config_text(server.url))
        with Client(load_settings(home / "config.toml")) as made:
            yield made
