"""MMLU, ARC and HellaSwag as lm-evaluation-harness's task files define them: each dataset
row as a question, its choices and its answer, and the description MMLU puts before it."""

from __future__ import annotations

import re
from typing import Any

from weighbridge.eval.datasets import Source
from weighbridge.eval.multiple_choice import MultipleChoiceTask, Question


def _mmlu(index: int, row: dict[str, Any]) -> Question:
    choices = row["choices"]
    lettered = "".join(f"\n{letter}. {choice}" for letter, choice in zip("ABCD", choices, strict=True))
    text = f"{row['question'].strip()}{lettered}\nAnswer:"
    return Question(
        f"{row['subject']}/{index}", row["subject"], text, ["A", "B", "C", "D"], int(row["answer"])
    )


def _mmlu_description(subject: str) -> str:
    return (
        f"The following are multiple choice questions (with answers) about {subject.replace('_', ' ')}.\n\n"
    )


def _arc(index: int, row: dict[str, Any]) -> Question:
    choices = row["choices"]
    return Question(
        str(row.get("id", index)),
        "",
        f"Question: {row['question']}\nAnswer:",
        list(choices["text"]),
        list(choices["label"]).index(row["answerKey"]),
    )


def _hellaswag_text(text: str) -> str:
    """lm-eval's ``preprocess``: WikiHow's bracketed artifacts out, ``[title]`` as a sentence end."""
    text = text.strip().replace(" [title]", ". ")
    text = re.sub("\\[.*?\\]", "", text)
    return text.replace("  ", " ")


def _hellaswag(index: int, row: dict[str, Any]) -> Question:
    context = row["ctx_a"] + " " + row["ctx_b"].capitalize()
    return Question(
        str(row.get("ind", index)),
        "",
        _hellaswag_text(row["activity_label"] + ": " + context),
        [_hellaswag_text(ending) for ending in row["endings"]],
        int(row["label"]),
    )


MULTIPLE_CHOICE: dict[str, MultipleChoiceTask] = {
    "mmlu": MultipleChoiceTask(
        "mmlu",
        Source("cais/mmlu", "all"),
        "test",
        "dev",
        ("acc",),
        _mmlu,
        _mmlu_description,
        sampler="first_n",
    ),
    "arc_easy": MultipleChoiceTask(
        "arc_easy", Source("allenai/ai2_arc", "ARC-Easy"), "test", "train", ("acc", "acc_norm"), _arc
    ),
    "arc_challenge": MultipleChoiceTask(
        "arc_challenge",
        Source("allenai/ai2_arc", "ARC-Challenge"),
        "test",
        "train",
        ("acc", "acc_norm"),
        _arc,
    ),
    "hellaswag": MultipleChoiceTask(
        "hellaswag",
        Source("Rowan/hellaswag", None),
        "validation",
        "train",
        ("acc", "acc_norm"),
        _hellaswag,
        sampler="random_but_self",
    ),
}
