"""GSM8K as lm-evaluation-harness 0.4's ``gsm8k`` task (``lm_eval/tasks/gsm8k/gsm8k.yaml``,
version 3.0) scores it, so the two numbers mean the same.

Each test question (``Question: <question>\\nAnswer:``) is asked after k worked examples from
the train split, drawn by lm-eval's default sampler (:mod:`weighbridge.eval.fewshot`), in the
chat lm-eval sends with ``--apply_chat_template`` (:func:`~weighbridge.eval.generation.fewshot_chat`:
each example a user turn and the assistant's worked answer). The model answers greedily and
stops at ``Question:`` (it would otherwise go on to invent the next one). Two numbers are then
read out of its reply (lm-eval's two filters): ``strict-match`` takes the number after the
first ``#### `` (the dataset's own answer format, which the examples show), ``flexible-extract``
the last number anywhere; each scores ``exact_match`` against the reference's final answer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from weighbridge.errors import InvalidRequestError
from weighbridge.eval.datasets import Source, load_split
from weighbridge.eval.fewshot import random_shots
from weighbridge.eval.generation import MAX_TOKENS, fewshot_chat, generate, generation_ask
from weighbridge.eval.task import GENERATION, Item, Setup

if TYPE_CHECKING:
    from weighbridge.capabilities import Capabilities
    from weighbridge.client import Client

SOURCE = Source("openai/gsm8k", "main")
#: gsm8k.yaml's ``num_fewshot``: the examples each question gets unless ``--shots`` says.
SHOTS = 5
UNTIL = ["Question:", "</s>", "<|im_end|>"]
#: What lm-eval writes when a filter finds nothing; it never equals a reference.
INVALID = "[invalid]"
#: lm-eval's filters: name, pattern, and which match to keep (``group_select``).
FILTERS: dict[str, tuple[re.Pattern[str], int]] = {
    "strict-match": (re.compile(r"#### (\-?[0-9\.\,]+)"), 0),
    "flexible-extract": (re.compile(r"(-?[$0-9.,]{2,})|(-?[0-9]+)"), -1),
}
#: ``exact_match``'s ``regexes_to_ignore``, removed in this order from both sides (the last
#: two leave the reference's final answer alone), which are then compared ignoring case.
IGNORED = [re.compile(pattern) for pattern in (",", r"\$", r"(?s).*#### ", r"\.$")]


def extract(reply: str, name: str) -> str:
    """lm-eval's ``regex`` filter then ``take_first``: the ``group_select``-th match (where a
    pattern has several groups, its first non-empty one), stripped; ``[invalid]`` if none."""
    pattern, select = FILTERS[name]
    found = pattern.findall(reply)
    if not found:
        return INVALID
    match = found[select]
    if isinstance(match, tuple):
        match = next((group for group in match if group), INVALID)
    return str(match).strip()


def normalized(text: str) -> str:
    for pattern in IGNORED:
        text = pattern.sub("", text)
    return text.lower()


def exact_match(prediction: str, reference: str) -> bool:
    """lm-eval's ``exact_match`` with gsm8k.yaml's settings (ignore_case, regexes_to_ignore)."""
    return normalized(prediction) == normalized(reference)


def doc_to_text(row: dict[str, Any]) -> str:
    """gsm8k.yaml's ``doc_to_text``; an example's answer is the row's whole worked ``answer``."""
    return f"Question: {row['question']}\nAnswer:"


@dataclass(frozen=True)
class GSM8K:
    unsafe_code: ClassVar[bool] = False
    name: str = "gsm8k"
    #: lm-eval's ``max_gen_toks`` (its default; gsm8k.yaml names none).
    max_tokens: int = MAX_TOKENS

    def shots(self, setup: Setup) -> int:
        return SHOTS if setup.shots is None else setup.shots

    def method(self, capabilities: Capabilities) -> str:
        if capabilities.offers("chat"):
            return GENERATION
        raise InvalidRequestError("it does not chat, and GSM8K is scored on the answer a model writes")

    def metrics(self, method: str) -> tuple[str, ...]:
        return tuple(f"exact_match,{name}" for name in FILTERS)

    def items(self, setup: Setup, method: str) -> list[Item]:
        rows = load_split(SOURCE, "test", data_dir=setup.data_dir)
        asked = rows[: setup.limit] if setup.limit else rows
        k = self.shots(setup)
        pool = load_split(SOURCE, "train", data_dir=setup.data_dir) if k else []
        shots = random_shots(pool, len(asked), k, setup.seed)
        return [
            self.item(i, row, examples) for i, (row, examples) in enumerate(zip(asked, shots, strict=True))
        ]

    def item(self, index: int, row: dict[str, Any], shots: list[dict[str, Any]]) -> Item:
        """The row's question after its examples, named by its place in the split (lm-eval's
        ``doc_id``)."""
        messages = fewshot_chat(doc_to_text(row), [(doc_to_text(shot), shot["answer"]) for shot in shots])
        ask = generation_ask(messages, UNTIL, max_tokens=self.max_tokens)
        return Item(str(index), "", GENERATION, ask, {"answer": row["answer"]})

    async def ask(self, client: Client, model: str, item: Item) -> dict[str, Any]:
        """The reply, and the answer each filter reads out of it."""
        reply, snapshot = await generate(client, model, item.ask)
        return {
            "reply": reply,
            **{name: extract(reply, name) for name in FILTERS},
            "upstream_model": snapshot,
        }

    def score(self, item: Item, record: dict[str, Any]) -> dict[str, float]:
        return {
            f"exact_match,{name}": float(exact_match(record[name], item.reference["answer"]))
            for name in FILTERS
        }
