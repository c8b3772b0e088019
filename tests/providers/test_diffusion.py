"""diffusers pipelines from local folders, on a real pipeline: a tiny Stable Diffusion 1.x
built from configs once for the test run (the ``tiny_sd`` fixture: random weights, 32x32
pictures by default, a few hundredths of a second a picture at 2 steps)."""

from __future__ import annotations

import asyncio
import io
import shutil
import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from PIL import Image

from tests.support.diffusion import tiny_sd_lora, tiny_sd_pipeline
from weighbridge.client import Client
from weighbridge.config import Settings, load_settings
from weighbridge.errors import InvalidRequestError, ModelLoadError
from weighbridge.providers.diffusion import DiffusersProvider
from weighbridge.providers.diffusion_pipeline import Pipeline
from weighbridge.store import Store
from weighbridge.targets import Target, resolve
from weighbridge.types import ChatRequest, ImageRequest, Images
from weighbridge.weights import weight_sha256

PROMPT = "a red cat on a blue sofa"


@pytest.fixture
def settings(home: Path, tiny_sd: Path) -> Settings:
    """Settings whose config serves the tiny pipeline as ``tiny-sd``."""
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.toml").write_text(f'[models.tiny-sd]\nfile = "{tiny_sd}"\nprovider = "diffusers"\n')
    return load_settings()


@pytest.fixture
def target(settings: Settings) -> Target:
    return resolve(settings, "tiny-sd")


@pytest.fixture(scope="module")
def provider() -> Iterator[DiffusersProvider]:
    """One provider for the module's tests, so the pipeline loads once; closed at the end."""
    made = DiffusersProvider()
    yield made
    asyncio.run(made.aclose())


Make = Callable[..., Images]


@pytest.fixture
def make(provider: DiffusersProvider) -> Make:
    """``make(target, **asked)``: the pictures asked for (2 steps unless said)."""

    def pictures(target: Target, **asked: Any) -> Images:
        asked.setdefault("steps", 2)
        request = ImageRequest(model="tiny-sd", prompt=PROMPT, **asked)
        return asyncio.run(provider.generate_images(target, request))

    return pictures


def shas(images: Images) -> list[str]:
    return [image.sha256 for image in images.images]


def decoded(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def test_the_same_seed_makes_the_same_picture_and_each_of_n_can_be_made_again_alone(
    target: Target, make: Make
) -> None:
    first = make(target, seed=7)
    assert (first.seed, first.steps, first.size, first.upstream_model) == (7, 2, "32x32", None)
    assert first.usage.prompt_tokens == 0 and first.usage.completion_tokens == 0
    assert shas(make(target, seed=7)) == shas(first), "same seed, byte-identical picture"
    assert shas(make(target, seed=8)) != shas(first)

    two = make(target, seed=7, n=2)
    assert len(two.images) == 2 and len(set(shas(two))) == 2
    assert two.images[0].sha256 == first.images[0].sha256
    assert two.images[1].sha256 == make(target, seed=8).images[0].sha256, "picture i is seed + i's"


def test_a_request_without_a_seed_reports_the_one_that_makes_it_again(target: Target, make: Make) -> None:
    drawn = make(target)
    assert drawn.seed is not None
    assert shas(make(target, seed=drawn.seed)) == shas(drawn)


def test_size_and_format_are_honoured_and_a_size_the_pipeline_cannot_make_is_refused(
    target: Target, make: Make
) -> None:
    wide = make(target, size="64x48", seed=1)
    assert wide.size == "64x48" and decoded(wide.images[0].data).size == (64, 48)
    assert decoded(make(target, size="auto").images[0].data).size == (32, 32)
    for output_format, pil_name in (("jpeg", "JPEG"), ("webp", "WEBP"), ("png", "PNG")):
        image = make(target, output_format=output_format).images[0]
        assert image.format == output_format and decoded(image.data).format == pil_name

    for size in ("36x32", "32x128"):
        with pytest.raises(InvalidRequestError) as refused:
            make(target, size=size)
        assert refused.value.message == (
            f"size {size} does not work with this model (StableDiffusionPipeline): width and height "
            "must be multiples of 8 from 8 to 64 (its default is 32x32)"
        )


def test_steps_come_from_the_request_else_the_quality_else_the_pipeline(target: Target, make: Make) -> None:
    assert make(target, steps=3).steps == 3
    assert make(target, steps=None, quality="low").steps == 12  # SD's 50 / 4
    assert make(target, steps=None).steps == 50


def test_negative_prompt_and_guidance_reach_stable_diffusion(target: Target, make: Make) -> None:
    plain = shas(make(target, seed=3))
    assert shas(make(target, seed=3, negative_prompt="blurry, dark")) != plain
    assert shas(make(target, seed=3, guidance=1.5)) != plain


def test_a_knob_the_pipeline_lacks_is_refused_never_ignored() -> None:
    """A FLUX-shaped pipeline (a transformer denoiser, no ``guidance_scale`` here, and a
    negative prompt only under true guidance) on its own rules, without its weights."""

    class Flux:
        vae_scale_factor = 8
        default_sample_size = 128
        transformer = SimpleNamespace(config=SimpleNamespace())

        def __call__(
            self,
            prompt: str,
            negative_prompt: str | None = None,
            true_cfg_scale: float = 1.0,
            height: int | None = None,
            width: int | None = None,
            num_inference_steps: int = 28,
            num_images_per_prompt: int = 1,
            generator: Any = None,
        ) -> None: ...

    flux = Pipeline(Flux(), "cpu", Path("flux"))
    assert (flux.step, flux.default_size, flux.default_steps) == (16, (1024, 1024), 28)
    assert flux.size(ImageRequest(model="f", prompt="p", size="1024x768")) == (1024, 768)
    with pytest.raises(InvalidRequestError, match="multiples of 16 from 16 to 2048"):
        flux.size(ImageRequest(model="f", prompt="p", size="1000x1000"))
    with pytest.raises(InvalidRequestError) as refused:
        flux.knobs(ImageRequest(model="f", prompt="p", negative_prompt="dark", guidance=3.5))
    assert refused.value.message == (
        "this model (Flux) takes no guidance or negative_prompt: leave it out of the request"
    )
    assert flux.steps(ImageRequest(model="f", prompt="p", quality="high")) == 56

    with pytest.raises(ModelLoadError, match="not a text-to-image pipeline"):
        Pipeline(SimpleNamespace(__call__=lambda prompt: None), "cpu", Path("other"))


def test_a_text_chat_to_the_image_model_is_refused_with_what_to_ask_instead(
    target: Target, settings: Settings
) -> None:
    expected = "tiny-sd is an image model: ask it for images (POST /v1/images/generations, weighbridge image)"
    provider = DiffusersProvider()
    request = ChatRequest(model="tiny-sd", messages=[{"role": "user", "content": "hi"}])
    with pytest.raises(InvalidRequestError) as whole:
        asyncio.run(provider.complete(target, request))
    with pytest.raises(InvalidRequestError) as streamed:
        provider.stream(target, request)
    assert whole.value.message == streamed.value.message == expected
    with Client(settings) as client, pytest.raises(InvalidRequestError) as chat:
        client.chat("hi", model="tiny-sd")
    assert chat.value.message == expected


def test_through_the_client_by_name_and_by_bare_folder(settings: Settings, tiny_sd: Path) -> None:
    with Client(settings) as client:
        named = client.generate_images(ImageRequest(model="tiny-sd", prompt=PROMPT, steps=2, seed=5))
        bare = client.generate_images(ImageRequest(model=str(tiny_sd), prompt=PROMPT, steps=2, seed=5))
        assert named.provider == bare.provider == "diffusers"
        assert named.weight_sha256 == bare.weight_sha256 == weight_sha256(client.store, tiny_sd)
        assert shas(named) == shas(bare)


def test_concurrent_requests_are_all_answered_by_one_pipeline_and_its_thread_ends_on_close(
    target: Target, tmp_path: Path, make: Make
) -> None:
    alone = [shas(make(target, seed=seed)) for seed in (1, 2, 3)]
    mine = replace(target, upstream=str(shutil.copytree(target.upstream, tmp_path / "mine")))

    def workers() -> list[str]:
        return [t.name for t in threading.enumerate() if t.name.startswith("diffusers:mine")]

    async def go() -> tuple[list[Images], list[str], list[str]]:
        provider = DiffusersProvider()
        asked = [ImageRequest(model="tiny-sd", prompt=PROMPT, steps=2, seed=seed) for seed in (1, 2, 3)]
        answers = await asyncio.gather(*(provider.generate_images(mine, request) for request in asked))
        during = workers()
        await provider.aclose()
        return answers, during, workers()

    answers, during, after = asyncio.run(go())
    assert [shas(answer) for answer in answers] == alone, "queued, each as if alone"
    assert len(during) == 1 and after == [], "one pipeline, one thread, ended when its provider closed"


def test_a_pipeline_that_holds_pickled_weights_is_refused(target: Target, tmp_path: Path, make: Make) -> None:
    folder = shutil.copytree(target.upstream, tmp_path / "pickled")
    (folder / "unet" / "diffusion_pytorch_model.bin").write_bytes(b"\x80\x04not really a pickle")
    with pytest.raises(ModelLoadError) as refused:
        make(replace(target, upstream=str(folder)))
    message = refused.value.message
    assert "unet/diffusion_pytorch_model.bin" in message and "pickles" in message and "run code" in message


@pytest.fixture
def store(settings: Settings) -> Iterator[Store]:
    opened = settings.open_store()
    yield opened
    opened.close()


def test_the_folder_hash_is_stable_and_moves_with_any_weight_file(
    tiny_sd: Path, tmp_path: Path, store: Store
) -> None:
    built_again = tiny_sd_pipeline(tmp_path / "again")
    assert weight_sha256(store, built_again) == weight_sha256(store, tiny_sd), "a seeded build"
    weights = built_again / "vae" / "diffusion_pytorch_model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 1
    weights.write_bytes(data)
    assert weight_sha256(store, built_again) != weight_sha256(store, tiny_sd)


def test_a_lora_changes_the_pictures_and_the_weights_identity(
    target: Target, tiny_sd: Path, tmp_path: Path, store: Store, make: Make
) -> None:
    lora = tiny_sd_lora(tiny_sd, tmp_path / "lora")
    tuned = replace(target, adapter=lora)
    single_file = replace(target, adapter=lora / "pytorch_lora_weights.safetensors")
    plain = shas(make(target, seed=4))
    assert shas(make(tuned, seed=4)) != plain
    assert shas(make(single_file, seed=4)) == shas(make(tuned, seed=4)), "a LoRA file is the same LoRA"
    assert weight_sha256(store, tiny_sd, lora) != weight_sha256(store, tiny_sd)

    with pytest.raises(ModelLoadError, match="not a diffusers LoRA"):
        make(replace(target, adapter=tmp_path))


def test_the_entry_s_defaults_fill_what_a_request_leaves_unset(home: Path, tiny_sd: Path) -> None:
    """A distilled model's few steps and no guidance, said once in its entry as the catalog says
    them for SD-Turbo, reach every request that does not say its own."""
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.toml").write_text(
        f'[models.turbo]\nfile = "{tiny_sd}"\nprovider = "diffusers"\nmodality = "image"\n'
        "[models.turbo.defaults]\nsteps = 3\nguidance = 0.0\n"
    )
    with Client(load_settings()) as client:

        def made(**asked: Any) -> Any:
            return client.generate_images(ImageRequest(model="turbo", prompt=PROMPT, seed=4, **asked))

        defaulted = made()
        assert defaulted.steps == 3
        assert shas(defaulted) == shas(made(steps=3, guidance=0.0))
        assert made(steps=2).steps == 2
        assert made(quality="low").steps == 12  # quality says the steps itself: SD's 50 / 4


def test_a_default_the_model_s_requests_have_no_field_for_is_refused(home: Path, tiny_sd: Path) -> None:
    from weighbridge.errors import ConfigError

    home.mkdir(parents=True, exist_ok=True)
    (home / "config.toml").write_text(
        f'[models.turbo]\nfile = "{tiny_sd}"\nprovider = "diffusers"\nmodality = "image"\n'
        "[models.turbo.defaults]\ntemperature = 0.2\n"
    )
    with pytest.raises(ConfigError) as refused:
        load_settings()
    assert "defaults temperature: not for a model of modality image" in str(refused.value)


def test_pipelines_compute_in_the_type_this_machine_is_fastest_at_or_the_one_asked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import torch

    from weighbridge.errors import ConfigError
    from weighbridge.providers import diffusion

    monkeypatch.setenv("WEIGHBRIDGE_IMAGE_DTYPE", "auto")
    with open("/proc/cpuinfo", encoding="utf-8") as info:
        native = any(
            flag in line.split()
            for line in info
            if line.startswith("flags")
            for flag in ("avx512_bf16", "amx_bf16")
        )
    assert diffusion.pipeline_dtype("cpu") == (torch.bfloat16 if native else torch.float32)
    monkeypatch.setenv("WEIGHBRIDGE_IMAGE_DTYPE", "float32")
    assert diffusion.pipeline_dtype("cpu") == torch.float32
    monkeypatch.setenv("WEIGHBRIDGE_IMAGE_DTYPE", "double")
    with pytest.raises(ConfigError) as refused:
        diffusion.pipeline_dtype("cpu")
    assert refused.value.message == "WEIGHBRIDGE_IMAGE_DTYPE=double: give auto, float32, bfloat16, float16"
