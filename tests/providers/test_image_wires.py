"""Pictures through the closed and remote providers' wires, each against a loopback server
replaying its documented format (tests/support/image_samples.py): OpenAI's Images API and an
OpenAI-compatible endpoint, Gemini's image output and Imagen, Black Forest Labs' FLUX tasks.

Each test calls the real provider over real sockets with a target resolved from a config, as
the client would, and checks what crossed the wire: the exact body, the pictures' bytes, what
was mapped from the answer, and the errors. A request a service cannot honour is refused
before anything is sent: the server then saw nothing. OpenAI's own rules apply only at
api.openai.com, so those tests give the provider that address and route it to the loopback
server underneath, in the HTTP client (the providers' one seam).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.bfl_replay import FluxServer
from tests.support.image_samples import (
    BFL_KEY,
    BFL_MODERATED,
    BFL_NO_CREDITS,
    BFL_TOO_MANY_TASKS,
    BFL_VALIDATION,
    BLUE,
    CONTENT_POLICY,
    DALL_E_3_ANSWER,
    GEMINI_IMAGE_SAFETY,
    GEMINI_KEY,
    GEMINI_PROMPT_BLOCKED,
    GEMINI_TEXT_ONLY,
    GREEN,
    IMAGEN_ALL_FILTERED,
    IMAGES_RATE_LIMITED,
    MODERATION_BLOCKED,
    OPENAI_KEY,
    RED,
    REVISED,
    SERVER_ERROR,
    TASK_ID,
    bfl_poll,
    bfl_ready,
    bfl_task,
    gemini_error,
    gemini_image_answer,
    gpt_image_answer,
    imagen_answer,
)
from tests.support.replay import ReplayServer
from weighbridge.config import load_settings
from weighbridge.errors import InvalidRequestError, ProviderError, ProviderTimeoutError
from weighbridge.plugins import provider_class
from weighbridge.providers.bfl import BFLProvider, flux_model, task_bodies
from weighbridge.providers.gemini import GeminiProvider
from weighbridge.providers.gemini_images import predict_body
from weighbridge.providers.openai import OpenAIProvider
from weighbridge.providers.transport import AiohttpTransport
from weighbridge.targets import Target, resolve
from weighbridge.types import ChatRequest, ImageRequest, Images, Usage

PROMPT = "A white siamese cat on a windowsill"


class Rerouted(httpx.AsyncBaseTransport):
    """Sends the requests for some hosts to loopback servers instead, over the real transport:
    the provider sees and names the real address, the bytes go to the replay."""

    def __init__(self, hosts: dict[str, str]) -> None:
        self._hosts = {host: httpx.URL(url) for host, url in hosts.items()}
        self._inner = AiohttpTransport(httpx.Limits())

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        where = self._hosts.get(request.url.host)
        if where is not None:
            request.url = request.url.copy_with(scheme=where.scheme, host=where.host, port=where.port)
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


def target(home: Path, provider: dict[str, Any], upstream: str) -> Target:
    """The target a config with ``provider`` (as ``[providers.images]``) gives for ``upstream``."""
    home.mkdir(parents=True, exist_ok=True)
    config = home / "config.toml"
    fields = "\n".join(f"{k} = {v!r}" if isinstance(v, str) else f"{k} = {v}" for k, v in provider.items())
    config.write_text(
        f'[providers.images]\n{fields}\n\n[models.picture]\nprovider = "images"\nmodel = "{upstream}"\n'
    )
    return resolve(load_settings(config), "picture")


def generate(
    factory: Callable[[httpx.AsyncClient], Any],
    at: Target,
    request: ImageRequest,
    hosts: dict[str, str] | None = None,
) -> Images:
    async def go() -> Images:
        async with httpx.AsyncClient(transport=Rerouted(hosts or {})) as http:
            images: Images = await factory(http).generate_images(at, request)
            return images

    return asyncio.run(go())


def ask(**fields: Any) -> ImageRequest:
    return ImageRequest(model="picture", prompt=PROMPT, **fields)


def test_providers_declare_images() -> None:
    assert provider_class("openai").capabilities.offers("images")
    assert provider_class("gemini").capabilities.offers("images")
    bfl = provider_class("bfl").capabilities
    assert bfl.operations == frozenset({"images"}) and bfl.weights == "remote"


# -- OpenAI's Images API ------------------------------------------------------------------------


@pytest.fixture
def openai_at(home: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[[str], Target]:
    monkeypatch.setenv("OPENAI_API_KEY", OPENAI_KEY)
    provider = {"type": "openai", "base_url": "https://api.openai.com/v1", "api_key_env": "OPENAI_API_KEY"}
    return lambda upstream: target(home, provider, upstream)


def openai_images(at: Target, request: ImageRequest, upstream: ReplayServer) -> Images:
    return generate(OpenAIProvider, at, request, {"api.openai.com": upstream.url})


def test_gpt_image_body_pictures_and_usage(
    openai_at: Callable[[str], Target], upstream: ReplayServer
) -> None:
    upstream.reply_json(gpt_image_answer(RED, BLUE))

    made = openai_images(openai_at("gpt-image-1"), ask(n=2, size="1536x1024", quality="high"), upstream)

    [sent] = upstream.requests
    assert (sent.method, sent.path) == ("POST", "/v1/images/generations")
    assert sent.headers["host"] == "api.openai.com"
    assert sent.headers["authorization"] == f"Bearer {OPENAI_KEY}"
    assert sent.body == {
        "model": "gpt-image-1",
        "prompt": PROMPT,
        "n": 2,
        "size": "1536x1024",
        "quality": "high",
        "output_format": "png",
    }
    assert [image.data for image in made.images] == [RED, BLUE]
    assert [image.format for image in made.images] == ["png", "png"]
    assert made.usage == Usage(prompt_tokens=50, completion_tokens=4160)
    assert (made.upstream_model, made.size) == (None, "1536x1024")  # no model field in the answer


def test_dall_e_3_is_asked_for_b64_and_its_revised_prompt_kept(
    openai_at: Callable[[str], Target], upstream: ReplayServer
) -> None:
    upstream.reply_json(DALL_E_3_ANSWER)

    made = openai_images(openai_at("dall-e-3"), ask(size="1792x1024", quality="hd"), upstream)

    assert upstream.requests[0].body == {
        "model": "dall-e-3",
        "prompt": PROMPT,
        "n": 1,
        "size": "1792x1024",
        "quality": "hd",
        "response_format": "b64_json",
    }
    [image] = made.images
    assert (image.data, image.revised_prompt) == (GREEN, REVISED)
    assert made.usage == Usage()


@pytest.mark.parametrize(
    ("model", "fields", "words"),
    [
        ("dall-e-3", {"size": "512x512"}, "1024x1024, 1792x1024 or 1024x1792, not 512x512"),
        ("dall-e-3", {"n": 2}, "at most 1 image per request"),
        ("dall-e-3", {"quality": "high"}, "standard, hd or auto"),
        ("dall-e-3", {"output_format": "jpeg"}, "png images, not jpeg"),
        ("gpt-image-1", {"size": "1792x1024"}, "1024x1024, 1536x1024, 1024x1536 or auto"),
        ("gpt-image-1", {"quality": "hd"}, "low, medium, high or auto"),
        ("gpt-image-1", {"seed": 7}, "no 'seed' parameter"),
        ("gpt-image-1", {"steps": 4}, "no 'steps' parameter"),
        ("dall-e-3", {"negative_prompt": "blur"}, "no 'negative_prompt' parameter"),
        ("gpt-image-1", {"guidance": 3.5}, "no 'guidance' parameter"),
    ],
)
def test_openai_refuses_what_its_models_cannot_make_before_sending(
    openai_at: Callable[[str], Target],
    upstream: ReplayServer,
    model: str,
    fields: dict[str, Any],
    words: str,
) -> None:
    with pytest.raises(InvalidRequestError, match=words):
        openai_images(openai_at(model), ask(**fields), upstream)
    assert upstream.requests == []


def test_a_compatible_endpoint_gets_the_open_knobs(
    home: Path, upstream: ReplayServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOCALAI_KEY", "sk-local")
    at = target(
        home,
        {"type": "openai", "base_url": f"{upstream.url}/v1", "api_key_env": "LOCALAI_KEY"},
        "stablediffusion",
    )
    upstream.reply_json({"created": 1, "data": [{"b64_json": gpt_image_answer(BLUE)["data"][0]["b64_json"]}]})

    request = ask(size="512x512", seed=7, steps=4, negative_prompt="blur", guidance=0.0)
    made = generate(OpenAIProvider, at, request)

    assert upstream.requests[0].path == "/v1/images/generations"
    assert upstream.requests[0].body == {
        "model": "stablediffusion",
        "prompt": PROMPT,
        "n": 1,
        "size": "512x512",
        "seed": 7,
        "steps": 4,
        "negative_prompt": "blur",
        "guidance": 0.0,
        "output_format": "png",
        "response_format": "b64_json",
    }
    assert [image.data for image in made.images] == [BLUE]
    assert made.size == "512x512"


@pytest.mark.parametrize(
    ("status", "body", "headers", "error_type", "retry_after"),
    [
        (400, CONTENT_POLICY, {}, "invalid_request_error", None),
        (400, MODERATION_BLOCKED, {}, "image_generation_user_error", None),
        (429, IMAGES_RATE_LIMITED, {"Retry-After": "12"}, "requests", 12.0),
        (500, SERVER_ERROR, {}, "server_error", None),
    ],
)
def test_openai_errors_keep_status_words_and_retry_after(
    openai_at: Callable[[str], Target],
    upstream: ReplayServer,
    status: int,
    body: dict[str, Any],
    headers: dict[str, str],
    error_type: str,
    retry_after: float | None,
) -> None:
    model = "dall-e-3" if body is CONTENT_POLICY else "gpt-image-1"
    upstream.reply_json(body, status=status, headers=headers)

    with pytest.raises(ProviderError) as caught:
        openai_images(openai_at(model), ask(), upstream)

    error = caught.value
    assert (error.status, error.error_type, error.retry_after) == (status, error_type, retry_after)
    assert error.provider_message == body["error"]["message"]
    assert error.retryable is (status != 400)
    assert OPENAI_KEY not in str(error)
    assert len(upstream.requests) == 1  # providers never retry: the client does


# -- Gemini's image output ---------------------------------------------------------------------


@pytest.fixture
def gemini_at(home: Path, upstream: ReplayServer, monkeypatch: pytest.MonkeyPatch) -> Callable[[str], Target]:
    monkeypatch.setenv("GEMINI_API_KEY", GEMINI_KEY)
    provider = {"type": "gemini", "base_url": upstream.url, "api_key_env": "GEMINI_API_KEY"}
    return lambda upstream_id: target(home, provider, upstream_id)


def test_gemini_image_body_picture_and_usage(
    gemini_at: Callable[[str], Target], upstream: ReplayServer
) -> None:
    upstream.reply_json(gemini_image_answer(RED))

    made = generate(GeminiProvider, gemini_at("gemini-2.5-flash-image"), ask(size="1344x768", seed=5))

    [sent] = upstream.requests
    assert sent.path == "/v1beta/models/gemini-2.5-flash-image:generateContent"
    assert sent.headers["x-goog-api-key"] == GEMINI_KEY and GEMINI_KEY not in sent.path
    assert sent.body == {
        "contents": [{"role": "user", "parts": [{"text": PROMPT}]}],
        "generationConfig": {
            "responseModalities": ["TEXT", "IMAGE"],
            "imageConfig": {"aspectRatio": "16:9"},  # 1344x768 is Gemini's documented 16:9 size
            "seed": 5,
        },
    }
    [image] = made.images
    assert (image.data, image.format) == (RED, "png")
    assert made.usage == Usage(prompt_tokens=11, completion_tokens=1290)
    assert made.upstream_model == "gemini-2.5-flash-image"


def test_gemini_makes_n_pictures_with_n_calls(
    gemini_at: Callable[[str], Target], upstream: ReplayServer
) -> None:
    upstream.reply_json(gemini_image_answer(RED))
    upstream.reply_json(gemini_image_answer(GREEN))

    made = generate(GeminiProvider, gemini_at("gemini-2.5-flash-image"), ask(n=2, size="1536x1024"))

    assert len(upstream.requests) == 2
    assert all(r.body["generationConfig"]["imageConfig"] == {"aspectRatio": "3:2"} for r in upstream.requests)
    assert sorted(image.data for image in made.images) == sorted([RED, GREEN])
    assert made.usage == Usage(prompt_tokens=22, completion_tokens=2580)


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"size": "1000x300"}, "1:1, 2:3, 3:2, 3:4, 4:3, 4:5, 5:4, 9:16, 16:9, 21:9"),
        ({"steps": 20}, "no 'steps' parameter"),
        ({"negative_prompt": "blur"}, "no 'negative_prompt' parameter"),
        ({"quality": "hd"}, "no quality setting"),
        ({"output_format": "jpeg"}, "leave output_format at png"),
    ],
)
def test_gemini_refuses_before_sending(
    gemini_at: Callable[[str], Target], upstream: ReplayServer, fields: dict[str, Any], words: str
) -> None:
    with pytest.raises(InvalidRequestError, match=words):
        generate(GeminiProvider, gemini_at("gemini-2.5-flash-image"), ask(**fields))
    assert upstream.requests == []


@pytest.mark.parametrize(
    ("answer", "status", "words"),
    [
        (GEMINI_PROMPT_BLOCKED, 400, "blocked the prompt (PROHIBITED_CONTENT)"),
        (GEMINI_IMAGE_SAFETY, 400, "safety filters stopped it (IMAGE_SAFETY)"),
        (GEMINI_TEXT_ONLY, None, "answered without an image (STOP): I can describe it"),
    ],
)
def test_gemini_answer_without_a_picture(
    gemini_at: Callable[[str], Target],
    upstream: ReplayServer,
    answer: dict[str, Any],
    status: int | None,
    words: str,
) -> None:
    upstream.reply_json(answer)
    with pytest.raises(ProviderError, match=re.escape(words)) as caught:
        generate(GeminiProvider, gemini_at("gemini-2.5-flash-image"), ask())
    assert caught.value.status == status
    if status == 400:
        assert caught.value.error_type == "content_policy_violation" and not caught.value.retryable


@pytest.mark.parametrize(
    ("status", "kind", "headers", "retry_after"),
    [
        (400, "INVALID_ARGUMENT", {}, None),
        (429, "RESOURCE_EXHAUSTED", {"Retry-After": "3"}, 3.0),
        (503, "UNAVAILABLE", {}, None),
    ],
)
def test_gemini_image_errors(
    gemini_at: Callable[[str], Target],
    upstream: ReplayServer,
    status: int,
    kind: str,
    headers: dict[str, str],
    retry_after: float | None,
) -> None:
    message = f"replayed {kind}"
    upstream.reply_json(gemini_error(status, kind, message), status=status, headers=headers)
    with pytest.raises(ProviderError) as caught:
        generate(GeminiProvider, gemini_at("gemini-2.5-flash-image"), ask())
    error = caught.value
    assert (error.status, error.error_type, error.provider_message) == (status, kind, message)
    assert error.retry_after == retry_after
    assert GEMINI_KEY not in str(error)


# -- Imagen --------------------------------------------------------------------------------------


def test_imagen_body_and_pictures(gemini_at: Callable[[str], Target], upstream: ReplayServer) -> None:
    upstream.reply_json(imagen_answer(RED, GREEN, BLUE))

    made = generate(
        GeminiProvider, gemini_at("imagen-4.0-generate-001"), ask(n=3, size="1408x768", guidance=7.5)
    )

    [sent] = upstream.requests
    assert sent.path == "/v1beta/models/imagen-4.0-generate-001:predict"
    assert sent.headers["x-goog-api-key"] == GEMINI_KEY
    assert sent.body == {
        "instances": [{"prompt": PROMPT}],
        "parameters": {"sampleCount": 3, "aspectRatio": "16:9", "guidanceScale": 7.5},
    }
    assert [image.data for image in made.images] == [RED, GREEN, BLUE]
    assert made.upstream_model == "imagen-4.0-generate-001"


def test_imagen_jpeg_is_asked_in_output_options() -> None:
    body = predict_body(ask(output_format="jpeg", size="768x1024"), "imagen-4.0-generate-001")
    assert body["parameters"] == {
        "sampleCount": 1,
        "aspectRatio": "3:4",
        "outputOptions": {"mimeType": "image/jpeg"},
    }


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"seed": 1}, "no 'seed' parameter on the Gemini API"),
        ({"negative_prompt": "blur"}, "no 'negative_prompt' parameter"),
        ({"n": 5}, "at most 4 pictures"),
        ({"size": "1536x1024"}, "1:1, 3:4, 4:3, 9:16, 16:9"),
        ({"output_format": "webp"}, "png or jpeg"),
    ],
)
def test_imagen_refuses_before_sending(
    gemini_at: Callable[[str], Target], upstream: ReplayServer, fields: dict[str, Any], words: str
) -> None:
    with pytest.raises(InvalidRequestError, match=words):
        generate(GeminiProvider, gemini_at("imagen-4.0-generate-001"), ask(**fields))
    assert upstream.requests == []


@pytest.mark.parametrize("answer", [IMAGEN_ALL_FILTERED, {}])
def test_imagen_with_every_picture_filtered_is_a_content_policy_refusal(
    gemini_at: Callable[[str], Target], upstream: ReplayServer, answer: dict[str, Any]
) -> None:
    upstream.reply_json(answer)
    with pytest.raises(ProviderError, match="safety filters removed them") as caught:
        generate(GeminiProvider, gemini_at("imagen-4.0-generate-001"), ask())
    assert (caught.value.status, caught.value.error_type) == (400, "content_policy_violation")


# -- Black Forest Labs ---------------------------------------------------------------------------


@pytest.fixture
def bfl_at(home: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Target]:
    monkeypatch.setenv("BFL_API_KEY", BFL_KEY)

    def at(base: str, upstream: str = "flux-pro-1.1", **extra: Any) -> Target:
        provider = {"type": "bfl", "base_url": f"{base}/v1", "api_key_env": "BFL_API_KEY", **extra}
        return target(home, provider, upstream)

    return at


def fast(http: httpx.AsyncClient) -> BFLProvider:
    return BFLProvider(http, poll_interval_s=0.01)


def test_bfl_task_is_polled_until_ready_then_downloaded(
    bfl_at: Callable[..., Target], upstream: ReplayServer
) -> None:
    sample = f"{upstream.url}/delivery/results/{TASK_ID}/sample.png?se=2025-01-01T00%3A10Z&sig=replay"
    upstream.reply_json(bfl_task(upstream.url))
    upstream.reply_json(bfl_poll("Pending"))
    upstream.reply_json(bfl_poll("Pending"))
    upstream.reply_json(bfl_ready(sample, PROMPT, 42))
    upstream.reply_json(RED, headers={"Content-Type": "image/png"})

    made = generate(fast, bfl_at(upstream.url), ask(size="1024x768", seed=42))

    submit, *polls, download = upstream.requests
    assert (submit.method, submit.path) == ("POST", "/v1/flux-pro-1.1")
    assert submit.headers["x-key"] == BFL_KEY
    assert submit.body == {"prompt": PROMPT, "output_format": "png", "width": 1024, "height": 768, "seed": 42}
    assert [(p.method, p.path) for p in polls] == [("GET", f"/v1/get_result?id={TASK_ID}")] * 3
    assert all(p.headers["x-key"] == BFL_KEY for p in polls)
    assert download.path.startswith(f"/delivery/results/{TASK_ID}/sample.png")
    assert BFL_KEY not in download.raw  # the signed URL needs no key, and never gets it
    [image] = made.images
    assert (image.data, image.format, image.revised_prompt) == (RED, "png", None)
    assert (made.upstream_model, made.seed, made.size) == ("flux-pro-1.1", 42, "1024x768")


def test_bfl_makes_n_pictures_as_n_tasks_at_once(bfl_at: Callable[..., Target]) -> None:
    with FluxServer(pending=2) as server:
        made = generate(fast, bfl_at(server.url, "flux-dev"), ask(n=3, seed=10, steps=28, guidance=3.0))

    submitted = sorted((body for body, _ in server.tasks.values()), key=lambda body: body["seed"])
    assert submitted == [
        {"prompt": PROMPT, "output_format": "png", "steps": 28, "guidance": 3.0, "seed": seed}
        for seed in (10, 11, 12)
    ]
    assert sorted(image.data for image in made.images) == sorted(
        picture for _, picture in server.tasks.values()
    )
    assert len({image.data for image in made.images}) == 3
    assert made.seed == 10 and made.size is None


def test_bfl_seed_drawn_by_the_service_is_reported(
    bfl_at: Callable[..., Target], upstream: ReplayServer
) -> None:
    upstream.reply_json(bfl_task(upstream.url))
    upstream.reply_json(bfl_ready(f"{upstream.url}/delivery/x.png", f"{PROMPT}, golden hour light", 918273))
    upstream.reply_json(GREEN, headers={"Content-Type": "image/png"})

    made = generate(fast, bfl_at(upstream.url), ask())

    assert "seed" not in upstream.requests[0].body and "width" not in upstream.requests[0].body
    assert made.seed == 918273
    assert made.images[0].revised_prompt == f"{PROMPT}, golden hour light"  # prompt upsampling


def test_bfl_shapes_by_model() -> None:
    assert task_bodies(ask(size="1024x768"), "flux-kontext-pro") == [
        {"prompt": PROMPT, "output_format": "png", "aspect_ratio": "4:3"}
    ]
    assert task_bodies(ask(size="2048x1024"), "flux-2-pro")[0]["width"] == 2048
    assert flux_model("flux-2-flex").tunable and not flux_model("flux-pro-1.1").tunable


@pytest.mark.parametrize(
    ("model", "fields", "words"),
    [
        ("flux-pro-1.1", {"size": "1000x768"}, "multiples of 32 from 256 to 1440, not 1000x768"),
        ("flux-pro-1.1", {"size": "2048x2048"}, "multiples of 32 from 256 to 1440"),
        ("flux-2-pro", {"size": "1000x1000"}, "multiples of 16 from 64 to 2048"),
        ("flux-kontext-pro", {"size": "2400x768"}, "from 21:9 to 9:21"),
        ("flux-pro-1.1", {"steps": 28}, "no 'steps' parameter"),
        ("flux-kontext-pro", {"guidance": 3.0}, "no 'guidance' parameter"),
        ("flux-dev", {"negative_prompt": "blur"}, "no 'negative_prompt' parameter"),
        ("flux-dev", {"output_format": "webp"}, "png or jpeg"),
        ("flux-dev", {"quality": "hd"}, "no quality setting"),
    ],
)
def test_bfl_refuses_before_sending(
    bfl_at: Callable[..., Target], upstream: ReplayServer, model: str, fields: dict[str, Any], words: str
) -> None:
    with pytest.raises(InvalidRequestError, match=words):
        generate(fast, bfl_at(upstream.url, model), ask(**fields))
    assert upstream.requests == []


@pytest.mark.parametrize(
    ("answer", "status", "words"),
    [
        (BFL_MODERATED, 400, "Content Moderated: Moderation Reasons: Derivative Works Filter"),
        (bfl_poll("Request Moderated"), 400, "Request Moderated"),
        (
            bfl_poll("Error", details={"error": "GPU worker lost"}),
            502,
            "the task failed (Error: error: GPU worker lost)",
        ),
        (bfl_poll("Task not found"), 502, "Task not found"),
    ],
)
def test_bfl_task_ending_without_a_picture(
    bfl_at: Callable[..., Target], upstream: ReplayServer, answer: dict[str, Any], status: int, words: str
) -> None:
    upstream.reply_json(bfl_task(upstream.url))
    upstream.reply_json(bfl_poll("Pending"))
    upstream.reply_json(answer)

    with pytest.raises(ProviderError, match=re.escape(words)) as caught:
        generate(fast, bfl_at(upstream.url), ask())

    assert caught.value.status == status
    assert caught.value.retryable is (status != 400)
    assert len(upstream.requests) == 3  # nothing downloaded


def test_bfl_task_past_its_deadline_times_out(bfl_at: Callable[..., Target], upstream: ReplayServer) -> None:
    upstream.reply_json(bfl_task(upstream.url))
    for _ in range(200):
        upstream.reply_json(bfl_poll("Pending"))

    with pytest.raises(ProviderTimeoutError, match=f"task {TASK_ID} was not ready within 0.3 s"):
        generate(fast, bfl_at(upstream.url, timeout_s=0.3), ask())

    polled = len(upstream.requests)
    assert 3 < polled < 100
    asyncio.run(asyncio.sleep(0.05))
    assert len(upstream.requests) == polled  # it stopped polling


@pytest.mark.parametrize(
    ("status", "body", "headers", "words", "retry_after"),
    [
        (429, BFL_TOO_MANY_TASKS, {"Retry-After": "5"}, "limit of 24 active tasks", 5.0),
        (422, BFL_VALIDATION, {}, "^guidance: Input should be less than or equal to 5$", None),
        (402, BFL_NO_CREDITS, {}, "Insufficient credits", None),
        (500, {"detail": "Internal Server Error"}, {}, "Internal Server Error", None),
    ],
)
def test_bfl_refused_submission(
    bfl_at: Callable[..., Target],
    upstream: ReplayServer,
    status: int,
    body: dict[str, Any],
    headers: dict[str, str],
    words: str,
    retry_after: float | None,
) -> None:
    upstream.reply_json(body, status=status, headers=headers)

    with pytest.raises(ProviderError) as caught:
        generate(fast, bfl_at(upstream.url, "flux-dev"), ask(guidance=20.0))

    error = caught.value
    assert (error.status, error.retry_after) == (status, retry_after)
    assert re.search(words, error.provider_message)
    assert BFL_KEY not in str(error)
    assert len(upstream.requests) == 1


def test_bfl_answers_no_chat(bfl_at: Callable[..., Target], upstream: ReplayServer) -> None:
    at = bfl_at(upstream.url)
    chat = ChatRequest(model="picture", messages="hello")

    async def go() -> None:
        async with httpx.AsyncClient() as http:
            provider = BFLProvider(http)
            words = "picture is an image model: ask it for images"
            with pytest.raises(InvalidRequestError, match=words):
                await provider.complete(at, chat)
            with pytest.raises(InvalidRequestError, match=words):
                provider.stream(at, chat)

    asyncio.run(go())
    assert upstream.requests == []
