"""Multiple choice by generation, for models that show no log-probabilities (the chat APIs):
the choices are listed under letters, the model is asked for the letter, and the letter is
read out of what it writes.

The prompt is the task's own (its description, its few-shot examples, the question), with the
choices lettered where the task does not letter them already (ARC and HellaSwag; MMLU's text is
lettered and stays as it is, as in lm-eval's ``mmlu_generative``) and each example answered by
its letter, in the chat lm-eval sends a chat model (:func:`~weighbridge.eval.generation.fewshot_chat`)
with a system instruction asking for the letter alone. Chat models still wrap the letter ("The
answer is (B).", "**B**", "b"): :func:`extract_letter` reads it out of each of those.

Only ``acc`` is reported: ``acc_norm`` divides each choice's log-likelihood by its length, and
an answer written out has no likelihood per choice to divide.
"""

from __future__ import annotations

import dataclasses
import re
import string
from typing import TYPE_CHECKING, Any

from weighbridge.eval.generation import fewshot_chat, generate, generation_ask

if TYPE_CHECKING:
    from weighbridge.client import Client
    from weighbridge.eval.multiple_choice import Question
    from weighbridge.eval.task import Item

METRICS = ("acc",)
ANSWER_CUE = "\nAnswer:"
#: What follows "a" when it is the article ("a cat", "A train"); "A is right" names a choice.
ARTICLE = re.compile(r"\s+(?!is\b)[a-z]")


def lettered(question: Question) -> Question:
    """The question with its choices listed as ``A. ...`` lines before ``Answer:``, and the
    letters as its choices; a question already lettered (MMLU's) as it is."""
    marks = list(string.ascii_uppercase[: len(question.choices)])
    if question.choices == marks:
        return question
    listed = "".join(f"\n{mark}. {choice}" for mark, choice in zip(marks, question.choices, strict=True))
    text = question.text.removesuffix(ANSWER_CUE) + listed + ANSWER_CUE
    return dataclasses.replace(question, text=text, choices=marks)


def letter_ask(description: str, question: Question, shots: list[Question]) -> dict[str, Any]:
    """An item's ``ask`` for a lettered question and its lettered examples: the system turn is
    the instruction, then the task's description (as lm-eval joins ``--system_instruction`` and
    a description); no stop strings, as a chat model's answer ends by itself."""
    instruction = f"Answer with the letter of the correct choice ({_listed(question.choices)}) alone."
    system = instruction + "\n\n" + description if description else instruction
    examples = [(shot.text, shot.choices[shot.target]) for shot in shots]
    return generation_ask(fewshot_chat(question.text, examples, system), [])


def _listed(marks: list[str]) -> str:
    return marks[0] if len(marks) == 1 else ", ".join(marks[:-1]) + " or " + marks[-1]


async def ask_letter(client: Client, model: str, item: Item) -> dict[str, Any]:
    """The reply, and the letter read out of it (``None`` when it names none: scored wrong)."""
    reply, snapshot = await generate(client, model, item.ask)
    return {
        "reply": reply,
        "letter": extract_letter(reply, item.reference["letters"]),
        "upstream_model": snapshot,
    }


def extract_letter(reply: str, marks: list[str]) -> str | None:
    """The choice a reply names, looked for in this order:

    1. after "answer" ("The answer is (B)", "Answer: **c**", "correct answer is B"), any case;
    2. the whole reply, give or take punctuation and markdown ("B", "b.", "**B**", "(b)");
    3. the first letter standing alone, upper case only ("B. Paris", "Option C is right"):
       a lone lower-case letter in prose is a word, not a choice.

    "A" or "a" followed by a lower-case word (other than "is") is the article, never a choice.
    """
    options = "".join(marks)
    letter = rf"([{options}])(?![\w'])"
    cued = _first(rf"answer(?:\s+is)?\s*[:\-]?[\s*_(\[]*{letter}", reply, re.IGNORECASE)
    if cued:
        return cued.upper()
    alone = re.fullmatch(rf"[\W_]*([{options}])[\W_]*", reply.strip(), re.IGNORECASE)
    if alone:
        return alone.group(1).upper()
    return _first(rf"(?<![\w']){letter}", reply)


def _first(pattern: str, reply: str, flags: int = 0) -> str | None:
    """The letter of the first match that is not the article "a"."""
    for match in re.finditer(pattern, reply, flags):
        if not (match.group(1) in "Aa" and ARTICLE.match(reply, match.end())):
            return match.group(1)
    return None


def letter_scores(item: Item, record: dict[str, Any]) -> dict[str, float]:
    right = item.reference["letters"][item.reference["target"]]
    return {"acc": float(record["letter"] == right)}
