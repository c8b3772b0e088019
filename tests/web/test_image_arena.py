"""The arena's image mode through the gateway (in this process, over its ASGI app): two tiny
Stable Diffusion pipelines on the real diffusers provider, drawn blind, asked through
``/v1/images/generations`` by their aliases, voted on; the image board moves and the chat board
does not. Two replayed chat models sit beside them, so the modes are seen apart."""

from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from starlette.testclient import TestClient

from tests.support.gateway import gateway_app
from tests.support.replay import ReplayServer
from tests.web.test_api import ask, completion, two_models

IMAGES = ("tiny-sd", "tiny-sd-b")


@pytest.fixture(scope="module")
def other_sd(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A second tiny pipeline, narrower than ``tiny_sd``: it draws other pictures."""
    from tests.support.diffusion import tiny_sd_pipeline

    return tiny_sd_pipeline(tmp_path_factory.mktemp("sd-b") / "tiny-sd-b", channels=(16, 32))


def image_models(first: Path, second: Path | None = None) -> str:
    """``tiny-sd`` (and ``tiny-sd-b`` when ``second`` is given) on the diffusers provider."""
    text = f'[models.tiny-sd]\nfile = "{first}"\n'
    return text + (f'\n[models.tiny-sd-b]\nfile = "{second}"\n' if second else "")


def draw(http: TestClient, model: str) -> tuple[str, bytes]:
    """One picture of ``model`` (a blind alias): its log id and its bytes."""
    made = http.post(
        "/v1/images/generations", json={"model": model, "prompt": "a red bicycle", "n": 1, "steps": 2}
    )
    assert made.status_code == 200, made.text
    assert not [h for h in made.headers if h.startswith("x-weighbridge") and h != "x-weighbridge-id"]
    return made.headers["x-weighbridge-id"], base64.b64decode(made.json()["data"][0]["b64_json"])


def test_image_pair_vote_and_boards(
    upstream: ReplayServer, home: Path, tiny_sd: Path, other_sd: Path
) -> None:
    with gateway_app(home, config=two_models(upstream.url) + image_models(tiny_sd, other_sd)) as http:
        assert "img-src 'self' data:" in http.get("/").headers["content-security-policy"]
        listed = {m["id"]: m for m in http.get("/arena/models").json()["models"]}
        assert {listed[m]["modality"] for m in IMAGES} == {"image"}
        assert listed["cloud-a"]["modality"] == "chat" and listed["tiny-sd"]["runnable"]

        # a chat vote first: it must stay on the chat board
        chat_pair = http.post("/arena/pair", json={"pool": ["cloud-a", "cloud-b"]}).json()
        upstream.reply_json(completion("red"))
        upstream.reply_json(completion("blue"))
        chat_ids = ask(http, chat_pair["a"]), ask(http, chat_pair["b"])
        chat_vote = {"pair": chat_pair["pair"], "outcome": "tie", "prompt": "Name a colour.", "task": "art"}
        ids = {"inference_a": chat_ids[0], "inference_b": chat_ids[1]}
        assert http.post("/arena/vote", json={**chat_vote, **ids}).status_code == 200

        pair = http.post("/arena/pair", json={"pool": [*IMAGES, "gpt-image-1"], "mode": "image"}).json()
        chatted = http.post(
            "/v1/chat/completions", json={"model": pair["a"], "messages": [{"role": "user", "content": "Hi"}]}
        )
        assert chatted.status_code == 400
        assert (
            chatted.json()["error"]["message"]
            == f"{pair['a']} is from the image arena: it answers image requests only"
        )
        (id_a, picture_a), (id_b, picture_b) = draw(http, pair["a"]), draw(http, pair["b"])
        assert Image.open(io.BytesIO(picture_a)).size == (32, 32)
        assert picture_a != picture_b  # two models, two pictures
        logged = http.get("/arena/inference/" + id_a).json()
        assert logged["pictures"] == 1 and logged["status"] == "ok"

        vote = {"pair": pair["pair"], "outcome": "a", "prompt": "a red bicycle", "task": "art"}
        unproven = http.post("/arena/vote", json=vote)
        assert unproven.status_code == 400 and "inference_a" in unproven.json()["error"]["message"]
        voted = http.post("/arena/vote", json={**vote, "inference_a": id_a, "inference_b": id_b})
        assert voted.status_code == 200, voted.text
        revealed = voted.json()
        assert {revealed["a"], revealed["b"]} == set(IMAGES)  # gpt-image-1 cannot run: not drawn

        logged_models = [http.get("/arena/inference/" + i).json()["model"] for i in (id_a, id_b)]
        assert logged_models == [revealed["a"], revealed["b"]]  # the log names the real models

        board = http.get("/arena/leaderboard", params={"task": "art", "mode": "image"}).json()
        assert board["modality"] == "image" and board["votes"] == 1 and board["tasks"] == ["art"]
        winner, loser = board["models"]
        assert winner["model"] == revealed["a"] and loser["model"] == revealed["b"]
        assert winner["median_latency_per_image_ms"] > 0 and winner["cost_per_image_usd"] > 0
        assert winner["images"] == 1
        chat = http.get("/arena/leaderboard", params={"task": "art"}).json()
        assert chat["modality"] == "chat" and chat["votes"] == 1 and chat["outcomes"]["tie"] == 1
        assert {m["model"] for m in chat["models"]} == {"cloud-a", "cloud-b"}


def error(body: dict[str, Any]) -> str:
    """The message of an answer in OpenAI's error shape, which it must be in."""
    assert set(body) == {"error"} and body["error"]["type"] == "invalid_request_error", body
    return str(body["error"]["message"])


def test_image_mode_refusals(upstream: ReplayServer, home: Path, tiny_sd: Path) -> None:
    with gateway_app(home, config=two_models(upstream.url) + image_models(tiny_sd)) as http:
        alone = http.post("/arena/pair", json={"pool": ["tiny-sd", "gpt-image-1"], "mode": "image"})
        assert alone.status_code == 400
        assert error(alone.json()) == (
            "the image arena needs at least two runnable image models in the pool; runnable here: tiny-sd"
        )
        mixed = http.post("/arena/pair", json={"pool": ["tiny-sd", "cloud-a"], "mode": "image"})
        assert mixed.status_code == 400
        assert error(mixed.json()) == "the image arena pairs image models only; not image models: cloud-a"
        unknown = http.post("/arena/pair", json={"pool": ["cloud-a", "cloud-b"], "mode": "video"})
        assert unknown.status_code == 400 and error(unknown.json()) == "'mode' must be one of chat, image"
        board = http.get("/arena/leaderboard", params={"mode": "video"})
        assert board.status_code == 400 and "'mode'" in error(board.json())

        # a chat pair's alias draws no picture (nor an image pair's one an answer), naming no model
        pair = http.post("/arena/pair", json={"pool": ["cloud-a", "cloud-b"]}).json()
        refused = http.post("/v1/images/generations", json={"model": pair["a"], "prompt": "a red bicycle"})
        assert refused.status_code == 400
        assert error(refused.json()) == f"{pair['a']} is from the chat arena: it answers chat requests only"
        assert not [h for h in refused.headers if h.startswith("x-weighbridge")]
