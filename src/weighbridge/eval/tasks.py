"""Multiple-choice tasks as lm-evaluation-harness defines them, so a score here means what the
same score means there: the same prompt text, the same few-shot examples, the same choices and
the same metrics (``acc``: the choice with the highest log-likelihood; ``acc_norm``: the same per
character of the choice).

A prompt is the task's description, then each few-shot example (its text, a space, its answer)
followed by a blank line, then the question's own text; each choice is scored as a continuation
of it, a space and the choice (lm-eval's ``target_delimiter`` and ``fewshot_delimiter``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from weighbridge.eval.datasets import Source

TARGET_DELIMITER = " "
FEWSHOT_DELIMITER = "\n\n"


@dataclass(frozen=True)
class Question:
    id: str
    #: What the averages are grouped by (an MMLU subject); "" where a task has no groups.
    group: str
    text: str
    choices: list[str]
    target: int

    @property
    def solved(self) -> str:
        """The question with its answer, as a few-shot example."""
        return self.text + TARGET_DELIMITER + self.choices[self.target]


@dataclass(frozen=True)
class MultipleChoiceTask:
    name: str
    source: Source
    split: str
    #: Where few-shot examples come from, and how: lm-eval's ``first_n`` (MMLU) takes the first
    #: k of the question's group in file order.
    fewshot_split: str | None
    metrics: tuple[str, ...]
    to_question: Callable[[int, dict[str, Any]], Question]
    #: The description before the few-shot examples, by group.
    describe: Callable[[str], str] = lambda group: ""

    def prompt(self, question: Question, shots: list[Question]) -> str:
        examples = "".join(shot.solved + FEWSHOT_DELIMITER for shot in shots)
        return self.describe(question.group) + examples + question.text

    def shots_for(self, question: Question, pool: list[Question], k: int) -> list[Question]:
        """The first ``k`` examples of the question's own group (lm-eval's ``first_n``)."""
        return [shot for shot in pool if shot.group == question.group][:k]


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


TASKS: dict[str, MultipleChoiceTask] = {
    "mmlu": MultipleChoiceTask(
        "mmlu",
        Source("cais/mmlu", "all"),
        "test",
        "dev",
        ("acc",),
        _mmlu,
        _mmlu_description,
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
        "hellaswag", Source("Rowan/hellaswag", None), "validation", "train", ("acc", "acc_norm"), _hellaswag
    ),
}
