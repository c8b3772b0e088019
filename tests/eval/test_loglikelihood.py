"""Both ways of scoring a question on the embedded model give the same scores: one ``score``
call that evaluates the prompt once for every choice, and one echoed text completion per choice
(the way any OpenAI-compatible upstream is asked)."""

from __future__ import annotations

import dataclasses

import pytest

from weighbridge.client import Client
from weighbridge.config import load_settings
from weighbridge.eval.loglikelihood import score_choices
from weighbridge.providers.llamacpp import LlamaCppProvider
from weighbridge.types import ContinuationScore, TextRequest

#: An MMLU-style question (one-token choices), ARC-style and HellaSwag-style ones (choices of
#: several tokens, of different lengths), and one whose right answer is the greedy one.
QUESTIONS = [
    (
        "The following are multiple choice questions (with answers) about geography.\n\n"
        "What is the capital of France?\nA. Berlin\nB. Paris\nC. Madrid\nD. Rome\nAnswer:",
        [" A", " B", " C", " D"],
    ),
    ("Question: Which ocean is the largest?\nAnswer:", [" Atlantic", " the Pacific Ocean", " Arctic"]),
    ("A man is sitting on a roof. He ", ["starts pulling up roofing.", "is holding a rubik's cube."]),
    ("The capital of France is", [" Paris", " a city"]),
]


def scored(client: Client) -> list[list[ContinuationScore]]:
    async def each() -> list[list[ContinuationScore]]:
        return [
            await score_choices(client, "smollm2-135m", context, choices) for context, choices in QUESTIONS
        ]

    return client.run_async(each)


@pytest.mark.long(8)
def test_one_call_per_question_scores_as_one_completion_per_choice(monkeypatch: pytest.MonkeyPatch) -> None:
    with Client(load_settings()) as client:
        shared = scored(client)
        logged = client.store.recent(limit=10)
        assert [(r.source, r.status) for r in logged] == [("eval", "ok")] * len(QUESTIONS)
        operations = LlamaCppProvider.capabilities.operations - {"score"}
        monkeypatch.setattr(
            LlamaCppProvider,
            "capabilities",
            dataclasses.replace(LlamaCppProvider.capabilities, operations=operations),
        )
        echoed = scored(client)
    for ours, theirs in zip(shared, echoed, strict=True):
        assert [s.logprob for s in ours] == pytest.approx([s.logprob for s in theirs], abs=1e-4)
        assert [s.greedy for s in ours] == [s.greedy for s in theirs]
    assert shared[-1][0].greedy  # " Paris": a greedy choice is told apart from the others


def test_an_echo_ends_on_the_generated_token_even_when_it_is_the_end_of_text() -> None:
    """lm-eval reads a choice's log-likelihood from an echo with one token generated: every
    token past the prompt but the last, which it takes for the generated one. An answer that
    ends at once, on the end-of-text token, still has that token last, or lm-eval would drop
    the choice's own last token instead. (The transformers provider's: tests/providers/test_hf.py.)"""
    with Client(load_settings()) as client:
        assert_echo_ends_on_the_end_token(client, "smollm2-135m")


def assert_echo_ends_on_the_end_token(client: Client, model: str) -> None:
    """An echo whose one generated token is the end-of-text token keeps it last, scored."""
    prompt = "<|im_start|>user\nWhat is 2+2? Answer with a number only.<|im_end|>\n<|im_start|>assistant\n4"
    request = TextRequest(model=model, prompt=prompt, max_tokens=1, echo=True, logprobs=1, temperature=0)
    answer = client.complete_text(request)
    assert answer.logprobs is not None and answer.finish_reason == "stop"
    assert answer.logprobs.tokens[-2:] == ["4", "<|im_end|>"]
    assert answer.logprobs.token_logprobs[-1] is not None and answer.logprobs.token_logprobs[-1] > -1
    assert len(answer.logprobs.tokens) == answer.usage.prompt_tokens + 1 == answer.usage.total_tokens
    assert answer.text == prompt  # the end token shows no text
