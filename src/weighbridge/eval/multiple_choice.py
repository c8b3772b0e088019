"""Multiple-choice tasks as lm-evaluation-harness defines them, so a score here means what the
same score means there: the same prompt text, the same few-shot examples, the same choices and
the same metrics (``acc``: the choice with the highest log-likelihood; ``acc_norm``: the same per
character of the choice).

A prompt is the task's description, then each few-shot example (its text, a space, its answer)
followed by a blank line, then the question's own text; each choice is scored as a continuation
of it, a space and the choice (lm-eval's ``target_delimiter`` and ``fewshot_delimiter``).

A model that shows no log-probabilities (a chat API) is asked for the letter of its choice
instead, and scored on the letter it writes (:mod:`weighbridge.eval.choice_generation`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from weighbridge.errors import InvalidRequestError
from weighbridge.eval.choice_generation import METRICS, ask_letter, letter_ask, letter_scores, lettered
from weighbridge.eval.datasets import Source, load_split
from weighbridge.eval.fewshot import random_shots
from weighbridge.eval.loglikelihood import score_choices
from weighbridge.eval.task import GENERATION, LOGLIKELIHOOD, Item, Setup

if TYPE_CHECKING:
    from weighbridge.capabilities import Capabilities
    from weighbridge.client import Client

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

    @property
    def doc(self) -> tuple[str, tuple[str, ...], int]:
        """What makes two questions the same document, whatever their ids."""
        return self.text, tuple(self.choices), self.target


@dataclass(frozen=True)
class MultipleChoiceTask:
    name: str
    source: Source
    split: str
    #: Where few-shot examples come from.
    fewshot_split: str | None
    scored_by: tuple[str, ...]
    to_question: Callable[[int, dict[str, Any]], Question]
    #: The description before the few-shot examples, by group.
    describe: Callable[[str], str] = lambda group: ""
    #: How lm-eval picks them: ``first_n`` (MMLU) takes the first k of the question's group in
    #: file order; ``random`` draws k with its seeded sampler; ``random_but_self`` draws k + 1
    #: and drops the question, as lm-eval does where it takes the few-shot split for the test
    #: split (HellaSwag).
    sampler: Literal["first_n", "random", "random_but_self"] = "random"
    unsafe_code: ClassVar[bool] = False

    def method(self, capabilities: Capabilities) -> str:
        """By log-likelihood where the model shows its tokenizer and log-probabilities, as
        lm-eval scores multiple choice; by the letter it writes where it only chats."""
        if capabilities.offers("tokenize") and capabilities.offers("logprobs"):
            return LOGLIKELIHOOD
        if capabilities.offers("chat"):
            return GENERATION
        raise InvalidRequestError("it neither shows token log-probabilities nor chats")

    def metrics(self, method: str) -> tuple[str, ...]:
        return METRICS if method == GENERATION else self.scored_by

    def shots(self, setup: Setup) -> int:
        return setup.shots or 0  # lm-eval's multiple-choice tasks are zero-shot unless told

    def questions(self, setup: Setup) -> tuple[list[Question], list[Question]]:
        """The questions to ask (the first ``limit``, in file order, as lm-eval's ``--limit``)
        and the pool of few-shot examples."""
        rows = load_split(self.source, self.split, data_dir=setup.data_dir)
        asked = [
            self.to_question(i, row) for i, row in enumerate(rows[: setup.limit] if setup.limit else rows)
        ]
        pool: list[Question] = []
        if self.shots(setup) and self.fewshot_split:
            rows = load_split(self.source, self.fewshot_split, data_dir=setup.data_dir)
            pool = [self.to_question(i, row) for i, row in enumerate(rows)]
        return asked, pool

    def items(self, setup: Setup, method: str) -> list[Item]:
        asked, pool = self.questions(setup)
        k = self.shots(setup)
        if self.sampler == "first_n":
            shots = [[shot for shot in pool if shot.group == q.group][:k] for q in asked]
        else:
            shots = self.drawn(asked, pool, k, setup.seed)
        return [self.item(q, examples, method) for q, examples in zip(asked, shots, strict=True)]

    def drawn(self, asked: list[Question], pool: list[Question], k: int, seed: int) -> list[list[Question]]:
        """Each question's examples from lm-eval's seeded sampler, compared as documents."""
        by_doc = {q.doc: q for q in pool}
        docs = random_shots(
            [q.doc for q in pool],
            len(asked),
            k,
            seed,
            asked=[q.doc for q in asked] if self.sampler == "random_but_self" else None,
        )
        return [[by_doc[doc] for doc in chosen] for chosen in docs]

    def item(self, question: Question, shots: list[Question], method: str) -> Item:
        if method == GENERATION:
            question, shots = lettered(question), [lettered(shot) for shot in shots]
            ask = letter_ask(self.describe(question.group), question, shots)
            reference = {"target": question.target, "letters": question.choices}
            return Item(question.id, question.group, GENERATION, ask, reference)
        ask = {
            "prompt": self.prompt(question, shots),
            "continuations": [TARGET_DELIMITER + choice for choice in question.choices],
        }
        reference = {"target": question.target, "choices": question.choices}
        return Item(question.id, question.group, LOGLIKELIHOOD, ask, reference)

    def prompt(self, question: Question, shots: list[Question]) -> str:
        examples = "".join(shot.solved + FEWSHOT_DELIMITER for shot in shots)
        return self.describe(question.group) + examples + question.text

    async def ask(self, client: Client, model: str, item: Item) -> dict[str, Any]:
        if item.method == GENERATION:
            return await ask_letter(client, model, item)
        scores = await score_choices(client, model, item.ask["prompt"], item.ask["continuations"])
        return {"loglikelihoods": [s.logprob for s in scores], "greedy": [s.greedy for s in scores]}

    def score(self, item: Item, record: dict[str, Any]) -> dict[str, float]:
        if item.method == GENERATION:
            return letter_scores(item, record)
        return {
            metric: float(chosen(item, record, metric) == item.reference["target"])
            for metric in self.scored_by
        }


def chosen(item: Item, record: dict[str, Any], metric: str) -> int:
    """``acc``: the most likely choice; ``acc_norm``: the most likely per character."""
    values = list(record["loglikelihoods"])
    if metric == "acc_norm":
        values = [v / len(c) for v, c in zip(values, item.reference["choices"], strict=True)]
    return max(range(len(values)), key=values.__getitem__)
