"""Images through every way in: the openai SDK's ``images.generate`` against the gateway (b64
and url), ``weighbridge image``, and ``weighbridge.image``, on a tiny Stable Diffusion pipeline
run by the real diffusers provider. Each call is a record in the audit chain with what made
the picture and its sha256; the picture is on disk only under retention ``full``; bad input is
a clear error in OpenAI's shape."""

from __future__ import annotations

import base64
import hashlib
import io
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest
from PIL import Image

from tests.support.cli import invoke
from tests.support.gateway import serving
from weighbridge.config import load_settings
from weighbridge.store import Store


def config(pipeline: Path, retention: str = "full") -> str:
    return f'[log]\nretention = "{retention}"\n\n[models.tiny-sd]\nfile = "{pipeline}"\n'


@pytest.fixture
def gateway(home: Path, tiny_sd: Path) -> Iterator[openai.OpenAI]:
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.toml").write_text(config(tiny_sd))
    with serving(home) as url:
        yield openai.OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0)


def picture(data: bytes) -> Image.Image:
    return Image.open(io.BytesIO(data))


def test_the_openai_sdk_makes_pictures_through_the_gateway(gateway: openai.OpenAI, home: Path) -> None:
    first = gateway.images.generate(
        model="tiny-sd", prompt="a red bicycle", n=2, extra_body={"seed": 7, "steps": 2}
    )
    again = gateway.images.generate(
        model="tiny-sd", prompt="a red bicycle", n=2, extra_body={"seed": 7, "steps": 2}
    )
    assert first.data is not None and again.data is not None and len(first.data) == 2
    made = [base64.b64decode(d.b64_json or "") for d in first.data]
    assert made == [base64.b64decode(d.b64_json or "") for d in again.data]  # the seed makes them again
    assert picture(made[0]).size == (32, 32) and picture(made[0]).format == "PNG"

    linked = gateway.images.generate(
        model="tiny-sd", prompt="a red bicycle", response_format="url", extra_body={"seed": 7, "steps": 2}
    )
    assert linked.data is not None and linked.data[0].url
    fetched = httpx.get(linked.data[0].url)
    assert fetched.status_code == 200 and fetched.headers["content-type"] == "image/png"
    assert fetched.content == made[0]  # n=2's first picture is the seed's first

    # every call is a record in the chain: what made the picture, and each picture's sha256
    store = Store(home / "weighbridge.db")
    try:
        records = [r for r in store.recent(10) if r.model == "tiny-sd"]
        assert len(records) == 3 and all(r.status == "ok" for r in records)
        logged = json.loads(records[0].response or "")
        assert logged["seed"] == 7 and logged["steps"] == 2 and logged["size"] == "32x32"
        assert logged["sha256"] == [hashlib.sha256(made[0]).hexdigest()]
        assert records[0].weight_sha256 is not None and records[0].cost_basis
        assert store.verify().ok
    finally:
        store.close()
    assert (home / "images" / f"{hashlib.sha256(made[0]).hexdigest()}.png").read_bytes() == made[0]

    # spend counts the pictures, and prices them by the machine's time (a local pipeline)
    spent = invoke("spend", "--json")
    assert spent.returncode == 0, spent.stderr
    [line] = [g for g in json.loads(spent.stdout)["groups"] if g["group"] == "tiny-sd"]
    assert (line["requests"], line["images"], line["unpriced"]) == (3, 5, 0)


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"model": "tiny-sd", "prompt": "x", "size": "33x33"}, "size"),
        ({"model": "tiny-sd", "prompt": "x", "n": 11}, "n"),
        ({"model": "tiny-sd", "prompt": ""}, "prompt"),
        ({"model": "smollm2-135m", "prompt": "a cat"}, "does not offer images: it is a chat model"),
        ({"model": "tiny-sd", "prompt": "x", "style": "vivid"}, "style is not supported"),
        ({"model": "tiny-sd", "prompt": "x", "stream": True}, "stream"),
    ],
)
def test_bad_requests_are_refused_in_openai_s_shape(
    gateway: openai.OpenAI, body: dict[str, object], says: str
) -> None:
    answer = httpx.post(f"{gateway.base_url}images/generations", json=body)
    assert answer.status_code == 400, answer.text
    error = answer.json()["error"]
    assert says in error["message"] and error["type"] == "invalid_request_error"


def test_a_chat_to_an_image_model_is_refused(gateway: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError, match="tiny-sd is an image model"):
        gateway.chat.completions.create(model="tiny-sd", messages=[{"role": "user", "content": "hi"}])


def test_the_command_writes_the_pictures_and_keeps_none_under_hash_retention(
    home: Path, tiny_sd: Path, tmp_path: Path
) -> None:
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.toml").write_text(config(tiny_sd, retention="hash"))
    out = tmp_path / "bike.png"
    made = invoke(
        "image", "-m", "tiny-sd", "a red bicycle", "-o", str(out), "-n", "2", "--seed", "3", "--steps", "2"
    )
    assert made.returncode == 0, made.stderr
    written = [tmp_path / "bike-1.png", tmp_path / "bike-2.png"]
    assert all(picture(p.read_bytes()).size == (32, 32) for p in written)
    assert "seed 3, 2 steps, 32x32" in made.stderr
    assert not (home / "images").exists()  # hash retention: the log keeps the hashes only
    [record] = [r for r in load_settings().open_store().recent(5) if r.model == "tiny-sd"]
    assert record.request is not None and record.request.startswith("sha256:")  # the prompt, hashed
    assert "a red bicycle" not in (record.response or "")

    import weighbridge

    again = weighbridge.image("a red bicycle", model="tiny-sd", n=2, seed=3, steps=2)
    assert [i.data for i in again.images] == [p.read_bytes() for p in written]


def test_a_privacy_route_keeps_a_flagged_image_prompt_on_this_machine(
    home: Path, tiny_sd: Path, tmp_path: Path
) -> None:
    """A route over a remote image service (another weighbridge, through its OpenAI-compatible
    images endpoint) and the local pipeline: a prompt holding an e-mail address is drawn here;
    a clean one goes out, to the first target."""
    remote_home = tmp_path / "remote"
    with serving(remote_home, config=config(tiny_sd)) as remote:
        home.mkdir(parents=True, exist_ok=True)
        (home / "config.toml").write_text(
            config(tiny_sd)
            + f'\n[providers.studio]\ntype = "openai"\nbase_url = "{remote}/v1"\ndata_leaves_machine = true\n'
            + '[models.studio-sd]\nprovider = "studio"\nmodel = "tiny-sd"\nmodality = "image"\n'
            + '[routes.pictures]\nprivacy = "local-only"\ntargets = [{ model = "studio-sd" }, { model = "tiny-sd" }]\n'
        )
        import weighbridge

        flagged = weighbridge.image("a postcard for jane.doe@example.com", model="pictures", seed=1, steps=2)
        assert flagged.model == "tiny-sd" and "local-only" in (flagged.route_reason or "")
        outside = Store(remote_home / "weighbridge.db")
        try:
            assert outside.recent(5) == []  # the remote service was sent nothing
            clean = weighbridge.image("a postcard of the sea", model="pictures", seed=1, steps=2)
            assert clean.model == "studio-sd" and clean.route == "pictures"
            [asked] = outside.recent(5)
            assert asked.model == "tiny-sd" and json.loads(asked.response or "")["seed"] == 1
        finally:
            outside.close()
