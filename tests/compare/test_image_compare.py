"""``weighbridge compare`` across image models, through the real CLI: two tiny Stable Diffusion
pipelines with different weights on the real diffusers provider, three prompts, scored by a
user's function on the picture, by a judge model that is shown the picture (a scripted chat
provider that reads the image part), and by CLIP (a tiny CLIP model built from configs). The
HTML report embeds the very pictures the log and the pictures folder name by sha256; a re-run
is served from the cache; a run mixing chat and image models is refused."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import re
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageStat

from tests.support import scripted
from tests.support.cli import invoke
from tests.support.diffusion import byte_tokenizer, tiny_sd_pipeline
from weighbridge.money.amounts import format_cost
from weighbridge.store import Store

PROMPTS = ["a red bicycle", "a lighthouse at night", "two cats on a sofa"]
RUBRIC = "Does the picture show what the prompt asks for?"

CHECKS = '''
from PIL import ImageStat


def brightness(image, case):
    """The picture's mean brightness, 0 (black) to 1 (white)."""
    return sum(ImageStat.Stat(image.convert("L")).mean) / 255
'''


def brightness(data: bytes) -> float:
    return float(sum(ImageStat.Stat(Image.open(io.BytesIO(data)).convert("L")).mean) / 255)


def judged(data: bytes) -> int:
    """What the scripted judge grades a picture: read from its bytes, so a judge that was not
    shown the picture could not give it."""
    return hashlib.sha256(data).digest()[0] % 11


@pytest.fixture(scope="module")
def other_sd(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A second tiny pipeline, narrower, so its weights (and pictures) differ from tiny_sd's."""
    return tiny_sd_pipeline(tmp_path_factory.mktemp("other") / "other-sd", channels=(16, 32))


@pytest.fixture(scope="module")
def tiny_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_clip_model(tmp_path_factory.mktemp("clip") / "tiny-clip")


def tiny_clip_model(folder: Path) -> Path:
    """A CLIP model with random weights and a byte tokenizer, saved as transformers saves one."""
    import torch
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPProcessor

    tokenizer = byte_tokenizer(folder.parent / "tokenizer")
    torch.manual_seed(1)  # random weights under which some of these pictures match their prompt
    layers = {"hidden_size": 32, "intermediate_size": 37, "num_hidden_layers": 2, "num_attention_heads": 4}
    config = CLIPConfig(
        text_config={
            **layers,
            "vocab_size": len(tokenizer),
            "max_position_embeddings": tokenizer.model_max_length,
            "bos_token_id": tokenizer.bos_token_id,
            "eos_token_id": tokenizer.eos_token_id,
            "pad_token_id": tokenizer.pad_token_id,
        },
        vision_config={**layers, "image_size": 32, "patch_size": 8},
        projection_dim=16,
    )
    CLIPModel(config).save_pretrained(folder)
    images = CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    CLIPProcessor(image_processor=images, tokenizer=tokenizer).save_pretrained(folder)
    return folder


class Judge:
    """The judge: it takes the picture from the question's image part and grades it by its
    bytes, keeping what it was shown."""

    def __init__(self) -> None:
        self.script = scripted.script("judging", respond=self.respond)
        self.shown: list[bytes] = []

    def respond(self, model: str, question: str) -> str:
        content = self.script.requests[-1].messages[-1].content  # this request: no await since
        assert isinstance(content, list) and RUBRIC in question and "(the picture attached" in question
        (part,) = [p for p in content if p["type"] == "image_url"]
        url = part["image_url"]["url"]
        assert url.startswith("data:image/png;base64,")
        data = base64.b64decode(url.removeprefix("data:image/png;base64,"))
        self.shown.append(data)
        return f"It shows it well enough.\nSCORE: {judged(data)}"


@pytest.fixture
def judge() -> Judge:
    return Judge()


@pytest.fixture
def setup(home: Path, tiny_sd: Path, other_sd: Path, tmp_path: Path) -> Path:
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.toml").write_text(
        '[log]\nretention = "hash"\n\n'  # the run keeps its pictures whatever the log keeps
        f'[models.sd-a]\nfile = "{tiny_sd}"\n\n[models.sd-b]\nfile = "{other_sd}"\n\n'
        + scripted.config(("vision-judge", "judging"))
    )
    (tmp_path / "checks.py").write_text(CHECKS)
    checks = [
        {"type": "python", "value": "checks.py:brightness"},
        {"type": "judge", "value": RUBRIC, "model": "vision-judge"},
    ]
    lines = [json.dumps({"id": f"p{i}", "prompt": p, "assert": checks}) for i, p in enumerate(PROMPTS, 1)]
    (tmp_path / "pictures.jsonl").write_text("\n".join(lines) + "\n")
    return tmp_path / "pictures.jsonl"


def records(home: Path) -> int:
    store = Store(home / "weighbridge.db")
    try:
        return len(store.recent(1000))
    finally:
        store.close()


def test_image_models_are_compared_side_by_side(
    setup: Path, home: Path, tiny_clip: Path, judge: Judge, tmp_path: Path
) -> None:
    html, exported, table = tmp_path / "report.html", tmp_path / "run.json", tmp_path / "run.csv"
    args = ["compare", str(setup), "-m", "sd-a", "-m", "sd-b", "--steps", "2", "--seed", "7"]
    args += ["--clip", str(tiny_clip), "--html", str(html), "--json", str(exported), "--csv", str(table)]
    first = invoke(*args)
    assert first.returncode == 0, first.stderr
    assert "Pictures" in first.stdout and "cost / picture" in first.stdout

    # the report embeds the six pictures, the same bytes as on disk
    page = html.read_text()
    embedded = [
        base64.b64decode(b) for b in re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    ]
    assert len(embedded) == 6 and "http://" not in page and "https://" not in page
    by_sha = {hashlib.sha256(data).hexdigest(): data for data in embedded}
    assert len(by_sha) == 6  # two models, three prompts: six different pictures
    for sha, data in by_sha.items():
        assert (home / "images" / f"{sha}.png").read_bytes() == data

    # each cell names its pictures by sha256, as the log does, with its figures
    run = json.loads(exported.read_text())
    assert run["run"]["params"]["modality"] == "image" and run["run"]["params"]["steps"] == 2
    cells = run["cells"]
    assert len(cells) == 6 and all(c["error"] is None for c in cells)
    store = Store(home / "weighbridge.db")
    try:
        logged = {r.id: r for r in store.recent(100)}
    finally:
        store.close()
    clips = []
    for cell in cells:
        made = json.loads(cell["output"])
        (picture,) = made["pictures"]
        assert picture["sha256"] in by_sha and made["seed"] == 7 and made["size"] == "32x32"
        assert cell["latency_s"] > 0 and cell["cost_usd"] is not None
        assert f"{cell['latency_s']:.2f} s" in page  # latency per picture: one picture per cell
        assert cell["inference_id"] in logged
        assert picture["sha256"] in (logged[cell["inference_id"]].response or "")
        data = by_sha[picture["sha256"]]
        scores = {s["check"]: s for s in cell["scores"]}
        assert scores["python"]["score"] == pytest.approx(brightness(data))
        assert scores["judge"]["score"] == pytest.approx(judged(data) / 10)
        clips.append(scores["clip"]["score"] * 100)
        assert clips[-1] == pytest.approx(clip_score(tiny_clip, data, cell), abs=1e-4)
        assert f"{clips[-1]:.1f}" in page and f"{scores['python']['score']:.2f}" in page
    assert any(clip > 0 for clip in clips)
    assert "cost / picture" in page and "latency p50 / picture" in page
    assert sorted(judge.shown) == sorted(by_sha.values())  # one verdict per picture, shown it

    # the exports name the pictures by sha256 and carry the figures, never the bytes
    text = exported.read_text() + table.read_text()
    assert all(sha in text for sha in by_sha) and base64.b64encode(embedded[0][:30]).decode() not in text

    # a re-run is served from the cache: no model is asked anything
    before = records(home)
    again = invoke(*args)
    assert again.returncode == 0, again.stderr
    assert records(home) == before and len(judge.shown) == 6
    rerun = json.loads(exported.read_text())
    assert all(c["cached"] for c in rerun["cells"]) and rerun["run"]["id"] != run["run"]["id"]
    scored = {(c["model"], c["prompt_id"]): c["scores"] for c in cells}
    for cell in rerun["cells"]:  # scored again, the same (CLIP to float precision)
        first = scored[cell["model"], cell["prompt_id"]]
        assert cell["scores"][:2] == first[:2]
        assert cell["scores"][2]["score"] == pytest.approx(first[2]["score"])

    # and shown again from the store alone, pictures and all
    again_html = tmp_path / "again.html"
    shown = invoke("show", run["run"]["id"], "--html", str(again_html))
    assert shown.returncode == 0, shown.stderr
    pictures = re.compile(r'src="(data:image/png;base64,[^"]+)"')
    assert pictures.findall(again_html.read_text()) == pictures.findall(page)


def clip_score(folder: Path, data: bytes, cell: dict[str, Any]) -> float:
    """torchmetrics' CLIP score, computed directly with the same model."""
    import torch
    from transformers import CLIPModel, CLIPProcessor

    model = CLIPModel.from_pretrained(folder, local_files_only=True)
    processor = CLIPProcessor.from_pretrained(folder, local_files_only=True)
    prompt = PROMPTS[int(cell["prompt_id"][1:]) - 1]
    image = Image.open(io.BytesIO(data)).convert("RGB")
    with torch.no_grad():
        inputs = processor(text=[prompt], images=[image], return_tensors="pt", padding=True)
        vision = model.vision_model(pixel_values=inputs["pixel_values"]).pooler_output
        words = model.text_model(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"])
        picture, text = model.visual_projection(vision), model.text_projection(words.pooler_output)
    cosine = torch.nn.functional.cosine_similarity(picture, text).item()
    return 100 * max(cosine, 0.0)


def test_a_run_mixing_chat_and_image_models_is_refused(setup: Path, judge: Judge) -> None:
    mixed = invoke("compare", str(setup), "-m", "sd-a", "-m", "vision-judge")
    assert mixed.returncode == 2
    assert "sd-a makes images and vision-judge answers in text" in mixed.stderr
    assert "runs of their own" in mixed.stderr and "Traceback" not in mixed.stderr
    assert judge.shown == []

    worded = setup.with_name("worded.jsonl")
    worded.write_text(
        json.dumps({"prompt": "a red bicycle", "assert": [{"type": "contains", "value": "red"}]})
    )
    refused = invoke("compare", str(worded), "-m", "sd-a")
    assert refused.returncode == 2 and "a 'contains' check scores text" in refused.stderr


def test_a_prompt_draws_its_own_size_seed_and_steps(setup: Path, home: Path, tmp_path: Path) -> None:
    own = tmp_path / "own.jsonl"
    wide = {"id": "wide", "prompt": PROMPTS[0], "size": "48x32", "seed": 3, "negative_prompt": "blurry"}
    two = {"id": "two", "prompt": PROMPTS[1], "n": 2}
    own.write_text(f"{json.dumps(wide)}\n{json.dumps(two)}\n")
    html, exported = tmp_path / "own.html", tmp_path / "own.json"
    args = ["compare", str(own), "-m", "sd-a", "--steps", "1", "--seed", "7"]
    done = invoke(*args, "--html", str(html), "--json", str(exported))
    assert done.returncode == 0, done.stderr
    made = {c["prompt_id"]: c for c in json.loads(exported.read_text())["cells"]}

    # the case's own size, seed and negative prompt reach its picture; the other keeps the run's
    # seed and the model's size, with its own count
    (picture,) = json.loads(made["wide"]["output"])["pictures"]
    drawn = (home / "images" / f"{picture['sha256']}.png").read_bytes()
    assert Image.open(io.BytesIO(drawn)).size == (48, 32)
    direct = tmp_path / "direct.png"
    alone = invoke(
        "image", "-m", "sd-a", PROMPTS[0], "-o", str(direct),
        "--size", "48x32", "--seed", "3", "--steps", "1", "--negative", "blurry",
    )  # fmt: skip
    assert alone.returncode == 0, alone.stderr
    assert hashlib.sha256(direct.read_bytes()).hexdigest() == picture["sha256"]
    other = json.loads(made["two"]["output"])
    assert (other["seed"], other["size"], len(other["pictures"])) == (7, "32x32", 2)

    # the report names what the case asked for itself, beside its prompt, and prices a picture
    # by each prompt's own count: three pictures from two calls
    page = html.read_text()
    assert '<div class="dim">size=48x32 · seed=3 · negative_prompt=blurry</div>' in page
    assert "n=2" in done.stdout and "seed=3" in done.stdout
    assert f'<td class="num">{format_cost(sum(c["cost_usd"] for c in made.values()) / 3)}</td>' in page

    # a case's own seed is part of its cell's key: changed, that picture alone is made again
    own.write_text(f"{json.dumps({**wide, 'seed': 4})}\n{json.dumps(two)}\n")
    again = invoke(*args, "--json", str(exported))
    assert again.returncode == 0, again.stderr
    remade = {c["prompt_id"]: c for c in json.loads(exported.read_text())["cells"]}
    assert (remade["wide"]["cached"], remade["two"]["cached"]) == (False, True)
    assert remade["wide"]["hash"] != made["wide"]["hash"]
    assert json.loads(remade["wide"]["output"])["seed"] == 4

    # a chat model has no use for them: the run is refused, naming the case
    chat = invoke("compare", str(own), "-m", "vision-judge")
    assert chat.returncode == 2 and "Traceback" not in chat.stderr
    assert "prompt wide: size, seed, negative_prompt are for image models" in chat.stderr
