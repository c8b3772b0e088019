"""Raw-text completions (OpenAI's legacy ``/v1/completions``) on any in-process model.

The steps are the same whatever runs the model: tokenize the prompt (or take its token ids),
check it fits, generate, cut at a stop string, score what is shown, and echo the prompt. A
backend supplies the token-level work (:class:`TextModel`); this module does the rest, and
writes the log-probabilities in OpenAI's shape, which log-likelihood evaluations read: each
token's log-probability given the tokens before it (``None`` for the first, which nothing
precedes), the most likely alternatives there, and each token's offset in the text.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

from weighbridge.errors import InvalidRequestError
from weighbridge.types import ChatRequest, FinishReason, TextCompletion, TextRequest, TokenLogprobs, Usage

#: Per token: its log-probability given those before it (None for the first) and the most
#: likely alternatives there, as (text, log-probability).
Scored = list[tuple[float | None, list[tuple[str, float]]]]


@dataclass(frozen=True)
class Sampling:
    """How the next token is picked: greedily at temperature 0, else drawn (with ``seed``,
    reproducibly). Unset, temperature and top_p are 1, as OpenAI's are."""

    temperature: float = 1.0
    top_p: float = 1.0
    seed: int | None = None

    @classmethod
    def of(cls, request: ChatRequest | TextRequest) -> Sampling:
        return cls(
            1.0 if request.temperature is None else request.temperature,
            1.0 if request.top_p is None else request.top_p,
            request.seed,
        )


class TextModel(Protocol):
    """The token-level work a backend does for a text completion."""

    def context(self, scoring: bool) -> int:
        """How many tokens a text may have here (``scoring``: with every position's logits)."""
        ...

    def tokenize(self, text: str, add_special: bool) -> list[int]: ...

    def text(self, tokens: list[int]) -> str:
        """The text of ``tokens``, special tokens left out."""
        ...

    def pieces(self, tokens: list[int]) -> list[str]:
        """Each token's own text, special tokens shown, so that together they spell the text."""
        ...

    def ends(self, token: int) -> bool:
        """Whether ``token`` ends a generation (an end-of-text or end-of-turn token)."""
        ...

    def tokens_after(self, prompt: list[int], max_tokens: int, sampling: Sampling) -> Iterator[int]:
        """Generated tokens, up to ``max_tokens``, the last an ending token if one came."""
        ...

    def score(self, tokens: list[int], top: int) -> Scored: ...


def complete_text(model: TextModel, request: TextRequest) -> TextCompletion:
    """Continue the prompt as raw text; with ``logprobs``, score what is returned."""
    prompt = request.prompt if isinstance(request.prompt, list) else model.tokenize(request.prompt, True)
    n_ctx = model.context(scoring=request.logprobs is not None)
    check_max_tokens(n_ctx, request.max_tokens)
    room = n_ctx - len(prompt)
    if room < 0 or (room == 0 and request.max_tokens > 0):
        raise too_long(len(prompt), n_ctx)
    generated, finish = _generate(model, prompt, request, min(request.max_tokens, room))
    text = model.text(generated)
    cut = stop_at(text, request.stop)
    if cut is not None:
        text, finish = text[:cut], "stop"
        # the fewest generated tokens whose text reaches the cut
        generated = next(
            generated[:n] for n in range(len(generated) + 1) if len(model.text(generated[:n])) >= cut
        )
    logprobs = None
    if request.logprobs is not None:
        everything = prompt + generated
        shown = 0 if request.echo else len(prompt)
        scored = model.score(everything, request.logprobs)[shown:]
        logprobs = as_openai(model.pieces(everything)[shown:], scored)
    if request.echo:
        text = (request.prompt if isinstance(request.prompt, str) else model.text(prompt)) + text
    return TextCompletion(
        text=text,
        logprobs=logprobs,
        finish_reason=finish,
        usage=Usage(prompt_tokens=len(prompt), completion_tokens=len(generated)),
    )


def _generate(
    model: TextModel, prompt: list[int], request: TextRequest, max_tokens: int
) -> tuple[list[int], FinishReason]:
    generated: list[int] = []
    for token in model.tokens_after(prompt, max_tokens, Sampling.of(request)):
        generated.append(token)
        # An ending token is kept, as vLLM keeps it: it shows no text, but it is the answer's
        # last token, and lm-eval scores a choice as all of an echo but its last token.
        if model.ends(token) or (request.stop and stop_at(model.text(generated), request.stop) is not None):
            return generated, "stop"
    return generated, "length"


def as_openai(pieces: list[str], scored: Scored) -> TokenLogprobs:
    """OpenAI's ``logprobs`` object; a token is among its own alternatives, as OpenAI lists it."""
    offsets, at = [], 0
    for piece in pieces:
        offsets.append(at)
        at += len(piece)
    top: list[dict[str, float] | None] = []
    for (logprob, best), piece in zip(scored, pieces, strict=True):
        if logprob is None:
            top.append(None)
            continue
        alternatives = dict(best)
        alternatives.setdefault(piece, logprob)
        top.append(alternatives)
    return TokenLogprobs(
        tokens=pieces,
        token_logprobs=[logprob for logprob, _ in scored],
        top_logprobs=top,
        text_offset=offsets,
    )


def stop_at(text: str, stops: list[str] | None) -> int | None:
    """Where the first stop string in ``text`` begins, if one does."""
    cuts = [text.find(s) for s in stops or [] if s and s in text]
    return min(cuts) if cuts else None


def check_max_tokens(n_ctx: int, max_tokens: int | None) -> None:
    """Refuse an answer longer than the whole context (``n_ctx`` tokens), as OpenAI does:
    clamped instead, it would hold a worker or an engine's slot for as long as the context
    takes to fill. An answer that only runs into the context's end is cut there (``length``),
    as llama.cpp's server does."""
    if max_tokens is not None and max_tokens > n_ctx:
        raise InvalidRequestError(
            f"max_tokens {max_tokens} is more than this model's whole context here ({n_ctx} tokens)"
        )


def too_long(tokens: int, n_ctx: int) -> InvalidRequestError:
    return InvalidRequestError(f"the text is {tokens} tokens; this model's context here is {n_ctx}")
