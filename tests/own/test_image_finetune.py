"""Image LoRA fine-tuning end to end on the tiny Stable Diffusion, FLUX.1 and Stable Diffusion 3
pipelines, through the CLI: the tuned model is registered with its hashes and draws other
pictures than its base from the same seed, an interrupted run resumed ends on the very bytes of
one that never stopped, nothing reaches the network, and a picture without a caption is
refused by name before anything loads."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.own import test_finetune
from tests.support.cli import invoke
from weighbridge.own.image_lora_data import read_folder
from weighbridge.own.registry import registration

no_network = test_finetune.no_network

SHAPES = [
    ("a red square", (220, 30, 30), "rectangle"),
    ("a blue circle", (30, 30, 220), "ellipse"),
    ("a green square", (30, 200, 30), "rectangle"),
    ("a yellow circle", (230, 220, 20), "ellipse"),
]


def _pictures(
    folder: Path, shapes: list[tuple[str, tuple[int, int, int], str]], *, jsonl: bool = False
) -> Path:
    """32x32 shapes on white, captioned beside each picture or (``jsonl``) in metadata.jsonl."""
    from PIL import Image, ImageDraw

    folder.mkdir()
    rows = []
    for i, (caption, colour, shape) in enumerate(shapes):
        picture = Image.new("RGB", (40, 32), "white")  # not square: cut to 32x32
        getattr(ImageDraw.Draw(picture), shape)((8, 6, 30, 26), fill=colour)
        picture.save(folder / f"{i}.png")
        rows.append({"file_name": f"{i}.png", "text": caption})
        if not jsonl:
            (folder / f"{i}.txt").write_text(caption, "utf-8")
    if jsonl:
        (folder / "metadata.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), "utf-8")
    return folder


def _finetune(base: Path, pictures: Path, name: str, *more: str) -> str:
    args = (
        "--base",
        str(base),
        "--images",
        str(pictures),
        "--name",
        name,
        "--lr",
        "1e-2",
        "--batch-size",
        "2",
    )
    result = invoke("finetune", *args, "--checkpoint-every", "2", *more)
    assert result.returncode == 0, result.stderr
    return result.stdout + result.stderr


def _picture(model: str, out: Path) -> bytes:
    """A 32x32 picture: every tiny pipeline makes that size (FLUX's default is larger)."""
    args = ("image", "-m", model, "a red square", "-o", str(out), "--seed", "3", "--steps", "2")
    result = invoke(*args, "--size", "32x32")
    assert result.returncode == 0, result.stderr
    return out.read_bytes()


def _adapter(home: Path, name: str) -> Path:
    return home / "finetune" / name / "adapter" / "pytorch_lora_weights.safetensors"


def _registered(home: Path, name: str, base: Path) -> dict[str, Any]:
    """``name``'s registration, once checked to be of ``base`` and of its adapter's bytes."""
    made = registration(home, name)
    assert made is not None and made["file"] == str(base.resolve())
    assert made["extra"]["adapter_sha256"] == hashlib.sha256(_adapter(home, name).read_bytes()).hexdigest()
    return made


@pytest.mark.long(30)
def test_an_image_lora_is_registered_changes_the_pictures_and_resumes_exactly(
    home: Path, tmp_path: Path, tiny_sd: Path, no_network: list[object]
) -> None:
    base = shutil.copytree(tiny_sd, tmp_path / "sd")
    pictures = _pictures(tmp_path / "pictures", SHAPES)
    held_out = _pictures(tmp_path / "held-out", SHAPES[:2], jsonl=True)

    said = _finetune(base, pictures, "shapes", "--steps", "4", "--eval-images", str(held_out))
    assert "eval denoising loss" in said and "(base) ->" in said
    made = _registered(home, "shapes", base)
    assert made["sha256"] in said and made["extra"]["base_sha256"] in said
    listed = invoke("models")
    assert listed.returncode == 0 and "shapes" in listed.stdout

    tuned = _picture("shapes", tmp_path / "tuned.png")
    assert tuned != _picture(str(base), tmp_path / "base.png")

    _finetune(base, pictures, "again", "--steps", "2")
    said = _finetune(base, pictures, "again", "--resume", "--steps", "4")
    assert "resumed at step 2 of 4" in said
    assert _adapter(home, "again").read_bytes() == _adapter(home, "shapes").read_bytes()
    assert no_network == []


def test_a_picture_without_a_caption_is_refused_by_name(home: Path, tmp_path: Path, tiny_sd: Path) -> None:
    pictures = _pictures(tmp_path / "pictures", SHAPES[:2])
    (pictures / "1.txt").unlink()
    result = invoke("finetune", "--base", str(tiny_sd), "--images", str(pictures), "--name", "x")
    assert result.returncode == 2
    assert f"{pictures / '1.png'} has no caption" in result.stderr
    assert len(read_folder(_pictures(tmp_path / "listed", SHAPES[:2], jsonl=True))) == 2

    both = invoke(
        "finetune", "--base", str(tiny_sd), "--images", str(pictures), "--data", __file__, "--name", "x"
    )
    assert both.returncode == 2 and "give --data (text examples) or --images" in both.stderr
    mixed = invoke(
        "finetune", "--base", str(tiny_sd), "--images", str(pictures), "--max-tokens", "9", "--name", "x"
    )
    assert mixed.returncode == 2 and "--max-tokens goes with --data" in mixed.stderr


@pytest.mark.long(30)
def test_a_flux_lora_trains_by_flow_matching_and_changes_the_pictures(
    home: Path, tmp_path: Path, no_network: list[object]
) -> None:
    from tests.support.diffusion import tiny_flux_pipeline

    base = tiny_flux_pipeline(tmp_path / "flux")
    pictures = _pictures(tmp_path / "pictures", SHAPES)
    said = _finetune(base, pictures, "flux-shapes", "--steps", "3", "--resolution", "32")
    assert "3/3" in said
    _registered(home, "flux-shapes", base)
    tuned = _picture("flux-shapes", tmp_path / "tuned.png")
    assert tuned != _picture(str(base), tmp_path / "base.png")
    assert no_network == []


@pytest.mark.long(30)
def test_an_sd3_lora_trains_by_flow_matching_changes_the_pictures_and_resumes_exactly(
    home: Path, tmp_path: Path, no_network: list[object]
) -> None:
    from tests.support.diffusion import tiny_sd3_pipeline

    base = tiny_sd3_pipeline(tmp_path / "sd3")
    pictures = _pictures(tmp_path / "pictures", SHAPES)
    held_out = _pictures(tmp_path / "held-out", SHAPES[:2], jsonl=True)
    said = _finetune(base, pictures, "sd3-shapes", "--steps", "2", "--eval-images", str(held_out))
    assert "2/2" in said and "(base) ->" in said
    _registered(home, "sd3-shapes", base)
    tuned = _picture("sd3-shapes", tmp_path / "tuned.png")
    assert tuned != _picture(str(base), tmp_path / "base.png")

    _finetune(base, pictures, "sd3-again", "--steps", "1")
    said = _finetune(base, pictures, "sd3-again", "--resume", "--steps", "2")
    assert "resumed at step 1 of 2" in said
    assert _adapter(home, "sd3-again").read_bytes() == _adapter(home, "sd3-shapes").read_bytes()
    assert no_network == []
