"""Raw-text completions, prompt scoring and embeddings on a llama.cpp model.

These run on the model's worker thread (see :mod:`weighbridge.providers.llamacpp`), each on a
``Llama`` instance made for the job: scoring needs the logits of every position
(``logits_all``), which would slow chat decoding, and embeddings need a pooling context.

Log-probabilities are computed here from the logits rather than taken from llama-cpp-python's
``echo`` output, which pairs each token with the distribution that follows it instead of the
one that predicted it; log-likelihood evaluations need the latter, exactly.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from weighbridge.errors import InvalidRequestError
from weighbridge.types import (
    EmbeddingRequest,
    Embeddings,
    FinishReason,
    TextCompletion,
    TextRequest,
    TokenLogprobs,
    Usage,
)


def complete_text(llama: Any, request: TextRequest) -> TextCompletion:
    """Continue the prompt as raw text; with ``logprobs``, score what is returned."""
    prompt = request.prompt if isinstance(request.prompt, list) else tokenize(llama, request.prompt)
    check_max_tokens(llama.n_ctx(), request.max_tokens)
    room = llama.n_ctx() - len(prompt)
    if room < 0 or (room == 0 and request.max_tokens > 0):
        raise _too_long(llama, len(prompt))
    generated, finish = _generate(llama, prompt, request, min(request.max_tokens, room))
    text = _text(llama, generated)
    cut = _stop_at(text, request.stop)
    if cut is not None:
        text, finish = text[:cut], "stop"
        generated = _tokens_covering(llama, generated, cut)
    logprobs = None
    if request.logprobs is not None:
        shown = prompt + generated if request.echo else generated
        scored = score(llama, prompt + generated, request.logprobs)
        logprobs = _as_openai(llama, shown, scored[len(prompt + generated) - len(shown) :])
    if request.echo:
        text = (request.prompt if isinstance(request.prompt, str) else _text(llama, prompt)) + text
    return TextCompletion(
        text=text,
        logprobs=logprobs,
        finish_reason=finish,
        usage=Usage(prompt_tokens=len(prompt), completion_tokens=len(generated)),
    )


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


def score(llama: Any, tokens: list[int], top: int) -> list[tuple[float | None, list[tuple[int, float]]]]:
    """Each token's log-probability given the tokens before it, and the ``top`` most likely
    alternatives there; the first token has none. Reuses the evaluated prefix the model
    already holds, so several continuations of one context cost one pass over the context."""
    if len(tokens) > llama.n_ctx():
        raise _too_long(llama, len(tokens))
    llama.eval(tokens[keep_held_prefix(llama, tokens) :])
    logprobs = next_token_logprobs(llama, len(tokens))
    scored: list[tuple[float | None, list[tuple[int, float]]]] = [(None, [])]
    for position, row in enumerate(logprobs, start=1):
        best = np.argpartition(-row, top)[:top] if top else np.array([], dtype=np.int64)
        best = best[np.argsort(-row[best])]
        scored.append((float(row[tokens[position]]), [(int(t), float(row[t])) for t in best]))
    return scored


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
        raise _too_long(llama, longest)
    vectors = llama.embed(texts, normalize=True, truncate=False)
    return Embeddings(vectors=vectors, usage=Usage(prompt_tokens=sum(counts)))


def _generate(
    llama: Any, prompt: list[int], request: TextRequest, max_tokens: int
) -> tuple[list[int], FinishReason]:
    if max_tokens == 0:
        return [], "length"
    import llama_cpp

    if request.seed is not None:
        llama.set_seed(request.seed)
    temperature = 1.0 if request.temperature is None else request.temperature
    top_p = 1.0 if request.top_p is None else request.top_p
    generated: list[int] = []
    vocab = llama._model.vocab
    for token in llama.generate(prompt, temp=temperature, top_p=top_p, top_k=0, min_p=0.0, reset=True):
        generated.append(token)
        if llama_cpp.llama_vocab_is_eog(vocab, token):
            # Kept, as vLLM keeps it: it shows no text, but it is the answer's last token, and
            # lm-eval scores a choice as all of an echo but its last token, the generated one.
            return generated, "stop"
        if len(generated) == max_tokens:
            break
        if request.stop and _stop_at(_text(llama, generated), request.stop) is not None:
            return generated, "stop"
    return generated, "length"


def _text(llama: Any, tokens: list[int]) -> str:
    return bytes(llama.detokenize(tokens)).decode("utf-8", "replace")


def _stop_at(text: str, stops: list[str] | None) -> int | None:
    cuts = [text.find(s) for s in stops or [] if s and s in text]
    return min(cuts) if cuts else None


def _tokens_covering(llama: Any, tokens: list[int], chars: int) -> list[int]:
    """The shortest run of ``tokens`` whose text reaches ``chars`` characters."""
    for n in range(len(tokens) + 1):
        if len(_text(llama, tokens[:n])) >= chars:
            return tokens[:n]
    return tokens


def _as_openai(
    llama: Any, tokens: list[int], scored: list[tuple[float | None, list[tuple[int, float]]]]
) -> TokenLogprobs:
    pieces = [_piece(llama, t) for t in tokens]
    offsets, at = [], 0
    for piece in pieces:
        offsets.append(at)
        at += len(piece)
    top: list[dict[str, float] | None] = []
    for (logprob, best), piece in zip(scored, pieces, strict=True):
        if logprob is None:
            top.append(None)
            continue
        alternatives = {_piece(llama, t): lp for t, lp in best}
        alternatives.setdefault(piece, logprob)
        top.append(alternatives)
    return TokenLogprobs(
        tokens=pieces,
        token_logprobs=[logprob for logprob, _ in scored],
        top_logprobs=top,
        text_offset=offsets,
    )


def check_max_tokens(n_ctx: int, max_tokens: int | None) -> None:
    """Refuse an answer longer than the whole context (``n_ctx`` tokens), as OpenAI does:
    clamped instead, it would hold a worker or an engine's slot for as long as the context
    takes to fill. An answer that only runs into the context's end is cut there (``length``),
    as llama.cpp's server does."""
    if max_tokens is not None and max_tokens > n_ctx:
        raise InvalidRequestError(
            f"max_tokens {max_tokens} is more than this model's whole context here ({n_ctx} tokens)"
        )


def _too_long(llama: Any, tokens: int) -> InvalidRequestError:
    return InvalidRequestError(f"the text is {tokens} tokens; this model's context here is {llama.n_ctx()}")


def _piece(llama: Any, token: int) -> str:
    return bytes(llama.detokenize([token], special=True)).decode("utf-8", "replace")
