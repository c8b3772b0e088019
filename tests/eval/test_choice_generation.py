"""Multiple choice by generation: the letter read out of the ways chat models write it, the
choices lettered where a task does not letter them, and a chat-only provider (Anthropic's wire
format, replayed) scored on the letters it answers."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.anthropic_samples import KEY, MESSAGE, MODEL, UPSTREAM
from tests.support.replay import ReplayServer, client_for
from weighbridge.client import Client
from weighbridge.eval.choice_generation import extract_letter, lettered
from weighbridge.eval.multiple_choice import Question
from weighbridge.eval.task import GENERATION, Setup
from weighbridge.eval.tasks import MULTIPLE_CHOICE
from weighbridge.targets import resolve

ABCD = ["A", "B", "C", "D"]


@pytest.mark.parametrize(
    ("reply", "letter"),
    [
        ("B", "B"),
        ("b", "B"),
        ("B.", "B"),
        ("**B**", "B"),
        ("(c)", "C"),
        ("B. Paris", "B"),
        ("The answer is (B).", "B"),
        ("The correct answer is: **d**", "D"),
        ("Answer: c", "C"),
        ("I think it is C, since Paris is the capital.", "C"),
        ("A cat would say D", "D"),  # "A" as the article is no choice
        ("A is right", "A"),
        ("The answer is a bit unclear, but B", "B"),
        ("It is the capital of France.", None),
        ("E", None),  # not one of this question's letters
        ("", None),
    ],
)
def test_the_letter_is_read_out_of_what_chat_models_write(reply: str, letter: str | None) -> None:
    assert extract_letter(reply, ABCD) == letter


def test_choices_are_lettered_unless_the_task_letters_them() -> None:
    arc = Question("q1", "", "Question: Which is a planet?\nAnswer:", ["Mars", "Sun", "Moon"], 0)
    assert lettered(arc).text == "Question: Which is a planet?\nA. Mars\nB. Sun\nC. Moon\nAnswer:"
    assert lettered(arc).choices == ["A", "B", "C"] and lettered(arc).target == 0
    hellaswag = Question("h1", "", "Baking: She mixes the flour", ["and eggs.", "and sings."], 1)
    assert lettered(hellaswag).text == "Baking: She mixes the flour\nA. and eggs.\nB. and sings.\nAnswer:"
    mmlu = Question(
        "geo/0", "geo", "Capital of France?\nA. Rome\nB. Paris\nC. Oslo\nD. Bern\nAnswer:", ABCD, 1
    )
    assert lettered(mmlu) is mmlu


def write_arc(folder: Path) -> Path:
    (folder / "ARC-Easy").mkdir(parents=True)
    rows = [
        ("What is the capital of France?", ["Berlin", "Paris", "Madrid", "Rome"], "B"),
        ("Which planet is closest to the Sun?", ["Venus", "Mars", "Mercury", "Earth"], "C"),
        ("What is the largest planet?", ["Jupiter", "Saturn", "Neptune", "Earth"], "A"),
    ]
    for split in ("test", "train"):
        (folder / "ARC-Easy" / f"{split}.jsonl").write_text(
            "".join(
                json.dumps(
                    {
                        "id": f"{split}{n}",
                        "question": q,
                        "choices": {"text": c, "label": ABCD},
                        "answerKey": key,
                    }
                )
                + "\n"
                for n, (q, c, key) in enumerate(rows)
            )
        )
    return folder


@pytest.fixture
def claude(upstream: ReplayServer, home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Client]:
    """A client whose ``anthropic`` provider is the replay server."""
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    with client_for(upstream, home, "anthropic", MODEL, UPSTREAM) as client:
        yield client


def test_a_chat_only_model_is_scored_on_the_letters_it_writes(
    claude: Client, upstream: ReplayServer, tmp_path: Path
) -> None:
    task = MULTIPLE_CHOICE["arc_easy"]
    method = task.method(resolve(claude.settings, MODEL).capabilities)
    assert method == GENERATION and task.metrics(method) == ("acc",)
    items = task.items(Setup(shots=1, data_dir=write_arc(tmp_path / "arc")), method)
    for reply in ("The answer is (B).", "**a**", "I am not sure."):
        upstream.reply_json({**MESSAGE, "content": [{"type": "text", "text": reply}]})

    async def asked() -> list[dict[str, Any]]:
        try:
            return [await task.ask(claude, MODEL, item) for item in items]  # in the replies' order
        finally:
            await claude.aclose()

    records = asyncio.run(asked())
    assert [r["letter"] for r in records] == ["B", "A", None]
    assert [r["reply"] for r in records] == ["The answer is (B).", "**a**", "I am not sure."]
    assert {r["upstream_model"] for r in records} == {MESSAGE["model"]}  # the snapshot that answered
    assert [task.score(item, r) for item, r in zip(items, records, strict=True)] == [
        {"acc": 1.0},
        {"acc": 0.0},
        {"acc": 0.0},
    ]
    sent = upstream.requests[0].body
    assert sent["system"] == "Answer with the letter of the correct choice (A, B, C or D) alone."
    [example, answer, question] = [(turn["role"], _text(turn)) for turn in sent["messages"]]
    assert question == (
        "user",
        "Question: What is the capital of France?\nA. Berlin\nB. Paris\nC. Madrid\nD. Rome\nAnswer:",
    )
    # The example (a train row, drawn by lm-eval's seeded sampler), answered by its letter.
    letters = {"France": "B", "closest": "C", "largest": "A"}
    [key] = [k for k in letters if k in example[1]]
    assert example[0] == "user" and answer == ("assistant", letters[key])
    assert sent["temperature"] == 0


def _text(turn: dict[str, Any]) -> str:
    content = turn["content"]
    return content if isinstance(content, str) else "".join(part["text"] for part in content)
