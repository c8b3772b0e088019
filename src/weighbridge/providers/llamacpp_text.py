"""Raw-text completions, prompt scoring and embeddings on a llama.cpp model.

These run on the model's worker thread (see :mod:`weighbridge.providers.llamacpp`), each on a
``Llama`` instance made for the job: scoring needs the logits of every position
(``logits_all``), which would slow chat decoding, and embeddings need a pooling context. A
raw-text completion is :mod:`weighbridge.providers.completions`'s, on the ``Llama`` seen as a
:class:`~weighbridge.providers.completions.TextModel` (:class:`LlamaText`).

Log-probabilities are computed here from the logits rather than taken from llama-cpp-python's
``echo`` output, which pairs each token with the distribution that follows it instead of the
one that predicted it; log-likelihood evaluations need the latter, exactly.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from weighbridge.errors import InvalidRequestError
from weighbridge.providers import completions
from weighbridge.providers.completions import Sampling, Scored, too_long
from weighbridge.types import EmbeddingRequest, Embeddings, TextCompletion, TextRequest, Usage


def complete_text(llama: Any, request: TextRequest) -> TextCompletion:
    """Continue the prompt as raw text; with ``logprobs``, score what is returned."""
    return completions.complete_text(LlamaText(llama), request)


class LlamaText:
    """The token-level work of a raw-text completion on a ``Llama``: the one made for the job,
    whose context is already the job's (smaller, with every position's logits, for scoring)."""

    def __init__(self, llama: Any) -> None:
        self.llama = llama

    def context(self, scoring: bool) -> int:
        return int(self.llama.n_ctx())

    def tokenize(self, text: str, add_special: bool) -> list[int]:
        return tokenize(self.llama, text, add_special=add_special)

    def text(self, tokens: list[int]) -> str:
        return _text(self.llama, tokens)

    def pieces(self, tokens: list[int]) -> list[str]:
        return [_piece(self.llama, token) for token in tokens]

    def ends(self, token: int) -> bool:
        """Whether ``token`` ends a generation (llama.cpp's end-of-generation tokens)."""
        import llama_cpp

        return bool(llama_cpp.llama_vocab_is_eog(self.llama._model.vocab, token))

    def tokens_after(self, prompt: list[int], max_tokens: int, sampling: Sampling) -> Iterator[int]:
        """Generated tokens; none asked (scoring only), the prompt is not even evaluated."""
        if max_tokens == 0:
            return
        if sampling.seed is not None:
            self.llama.set_seed(sampling.seed)
        tokens = self.llama.generate(
            prompt, temp=sampling.temperature, top_p=sampling.top_p, top_k=0, min_p=0.0, reset=True
        )
        for count, token in enumerate(tokens, start=1):
            yield token
            if count == max_tokens or self.ends(token):
                return

    def score(self, tokens: list[int], top: int) -> Scored:
        """Each token's log-probability given the tokens before it, and the ``top`` most likely
        alternatives there; the first token has none. Reuses the evaluated prefix the model
        already holds, so several continuations of one context cost one pass over the context."""
        llama = self.llama
        llama.eval(tokens[keep_held_prefix(llama, tokens) :])
        scored: Scored = [(None, [])]
        for position, row in enumerate(next_token_logprobs(llama, len(tokens)), start=1):
            best = np.argpartition(-row, top)[:top] if top else np.array([], dtype=np.int64)
            best = best[np.argsort(-row[best])]
            alternatives = [(_piece(llama, int(t)), float(row[t])) for t in best]
            scored.append((float(row[tokens[position]]), alternatives))
        return scored


def tokenize(llama: Any, text: str, *, add_special: bool = True) -> list[int]:
    """The model's own tokens for ``text``, with a BOS token when the model wants one.
    Special-token text (``<|im_end|>``) becomes the special token, as in Hugging Face
    tokenizers, which is how evaluation harnesses find a model's end-of-text id."""
    add_bos = add_special and llama.metadata.get("tokenizer.ggml.add_bos_token", "true") == "true"
    tokens: list[int] = llama.tokenize(text.encode("utf-8"), add_bos=add_bos, special=True)
    return tokens


def detokenize(llama: Any, tokens: list[int]) -> str:
    return _text(llama, tokens)


def tokenizer_info(llama: Any) -> dict[str, Any]:
    """What vLLM's ``/tokenizer_info`` says of a tokenizer, for clients that tokenize remotely."""
    meta = llama.metadata
    return {
        "tokenizer_class": "GGUF (llama.cpp)",
        "bos_token": _piece(llama, llama.token_bos()) if llama.token_bos() >= 0 else None,
        "eos_token": _piece(llama, llama.token_eos()) if llama.token_eos() >= 0 else None,
        "pad_token": None,
        "add_bos_token": meta.get("tokenizer.ggml.add_bos_token", "true") == "true",
        "chat_template": meta.get("tokenizer.chat_template"),
        "model_max_length": llama.n_ctx(),
    }


def keep_held_prefix(llama: Any, tokens: list[int]) -> int:
    """Keep what the model holds of ``tokens``' start, short of their last token (whose logits
    the caller needs, so it is evaluated again); returns how many tokens that is, after which
    the next evaluation goes on."""
    held = llama.input_ids[: min(llama.n_tokens, len(tokens) - 1)]
    differ = np.flatnonzero(held != np.asarray(tokens[: len(held)]))
    llama.n_tokens = int(differ[0]) if differ.size else len(held)
    return int(llama.n_tokens)


def next_token_logprobs(llama: Any, evaluated: int) -> Any:
    """Log-probabilities over the vocabulary after each of the first ``evaluated - 1`` tokens
    the model has just evaluated (row i predicts token i + 1), computed stably in float64."""
    return log_softmax(np.asarray(llama.scores[: evaluated - 1], dtype=np.float64))


def log_softmax(logits: Any) -> Any:
    """Each row of logits as log-probabilities, computed stably (the row's largest logit is
    taken out before exponentiating)."""
    logits = logits - logits.max(axis=1, keepdims=True)
    return logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))


def embed(llama: Any, request: EmbeddingRequest) -> Embeddings:
    """Mean-pooled, unit-length vectors (the shape OpenAI's embeddings have)."""
    if request.dimensions is not None and request.dimensions != llama.n_embd():
        raise InvalidRequestError(f"this model's embeddings have {llama.n_embd()} dimensions")
    texts = [item if isinstance(item, str) else _text(llama, item) for item in request.input]
    counts = [len(llama.tokenize(text.encode("utf-8"))) for text in texts]  # as embed() reads them
    longest = max(counts, default=0)
    if longest > llama.n_ctx():  # refused, as OpenAI does, rather than embedding a cut-off text
        raise too_long(longest, llama.n_ctx())
    vectors = llama.embed(texts, normalize=True, truncate=False)
    return Embeddings(vectors=vectors, usage=Usage(prompt_tokens=sum(counts)))


def _text(llama: Any, tokens: list[int]) -> str:
    return bytes(llama.detokenize(tokens)).decode("utf-8", "replace")


def _piece(llama: Any, token: int) -> str:
    return bytes(llama.detokenize([token], special=True)).decode("utf-8", "replace")
