"""A Hugging Face checkpoint in memory and the token-level work done on it: tokenizing,
generating token by token, scoring a text's tokens, and embeddings.

Generation is a plain loop over the model's forward pass with its key-value cache, rather
than ``model.generate``: each token is in hand as it comes (for streaming, stop strings and
exact usage), and sampling is the same few lines for chat and raw text. Scoring an echoed text
takes the log-probabilities from one forward pass over it, in float64, as the llama.cpp
provider computes them from its logits; scoring continuations evaluates their prompt once and
each continuation after it on the prompt's cache. Every method runs on the model's own thread
(:mod:`weighbridge.providers.hf`).
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

from weighbridge.errors import InvalidRequestError
from weighbridge.providers.completions import Sampling, Scored, too_long
from weighbridge.providers.llamacpp import (
    MAX_DEFAULT_CONTEXT,
    MAX_EMBEDDING_CONTEXT,
    MAX_SCORING_CONTEXT,
)
from weighbridge.providers.llamacpp_score import continuation_score
from weighbridge.types import EmbeddingRequest, Embeddings, ScoreRequest, Scores, Usage

#: Positions whose log-probabilities are computed at once: in float64 a row is 8 bytes a
#: vocabulary entry, so a few hundred rows keep the copy in the tens of megabytes.
_SCORE_ROWS = 256


class Checkpoint:
    """A causal LM and its tokenizer, as every call uses them (and a
    :class:`~weighbridge.providers.completions.TextModel` for raw-text completions)."""

    def __init__(self, model: Any, tokenizer: Any) -> None:
        self.model = model.eval()
        self.tokenizer = tokenizer
        longest = getattr(model.config, "max_position_embeddings", None) or MAX_DEFAULT_CONTEXT
        #: The context a chat has here: the model's own, up to MAX_DEFAULT_CONTEXT.
        self.n_ctx = min(int(longest), MAX_DEFAULT_CONTEXT)
        eos = model.generation_config.eos_token_id
        #: The tokens that end a generation: the generation config's and the tokenizer's.
        self._eos = frozenset([*(eos if isinstance(eos, list) else [eos]), tokenizer.eos_token_id]) - {None}
        bos = tokenizer.bos_token_id
        #: Whether the tokenizer puts a BOS token before a text (SmolLM2's does not).
        self.add_bos = bos is not None and self.tokenize("x", True)[:1] == [bos]

    def context(self, scoring: bool) -> int:
        """Scoring keeps every position's logits (tokens x vocabulary floats): a smaller context."""
        return min(self.n_ctx, MAX_SCORING_CONTEXT) if scoring else self.n_ctx

    def tokenize(self, text: str, add_special: bool) -> list[int]:
        """The model's own tokens for ``text``; special-token text (``<|im_end|>``) becomes the
        special token, which is how evaluation harnesses find a model's end-of-text id."""
        return list(self.tokenizer(text, add_special_tokens=add_special)["input_ids"])

    def text(self, tokens: list[int]) -> str:
        """The text of ``tokens``, special tokens left out."""
        return self._decode(tokens, special=False)

    def pieces(self, tokens: list[int]) -> list[str]:
        return [self._piece(tokens[i - 1] if i else None, token) for i, token in enumerate(tokens)]

    def _piece(self, before: int | None, token: int) -> str:
        """``token``'s text after ``before``: decoded alone, a SentencePiece token loses its
        leading space, and the pieces would no longer spell the text."""
        if before is None:
            return self._decode([token], special=True)
        return self._decode([before, token], special=True)[len(self._decode([before], special=True)) :]

    def _decode(self, tokens: list[int], special: bool) -> str:
        text = self.tokenizer.decode(
            tokens, skip_special_tokens=not special, clean_up_tokenization_spaces=False
        )
        return str(text)

    def ends(self, token: int) -> bool:
        """Whether ``token`` ends a generation (the generation config's or tokenizer's EOS)."""
        return token in self._eos

    def tokens_after(self, prompt: list[int], max_tokens: int, sampling: Sampling) -> Iterator[int]:
        """Generated tokens one by one, each forward pass reusing the cache of the last."""
        import torch

        generator = torch.Generator()
        if sampling.seed is None:
            generator.seed()
        else:
            generator.manual_seed(sampling.seed)
        step, cache = torch.tensor([prompt]), None
        for _ in range(max_tokens):
            with torch.inference_mode():
                out = self.model(input_ids=step, cache=cache, use_cache=True, logits_to_keep=1)
            cache = out.cache
            token = _pick(out.logits[0, -1], sampling, generator)
            yield token
            if self.ends(token):
                return
            step = torch.tensor([[token]])

    def score(self, tokens: list[int], top: int) -> Scored:
        """Each token's log-probability given the tokens before it, and the ``top`` most likely
        alternatives there; the first token has none."""
        import torch

        with torch.inference_mode():
            logits = self.model(input_ids=torch.tensor([tokens])).logits[0, :-1]
            scored: Scored = [(None, [])]
            for start in range(0, len(tokens) - 1, _SCORE_ROWS):
                rows = torch.log_softmax(logits[start : start + _SCORE_ROWS].double(), dim=-1)
                best = rows.topk(top, dim=-1)
                for row, ids, logprobs in zip(rows, best.indices.tolist(), best.values.tolist(), strict=True):
                    position = len(scored)  # the token this row predicts
                    before = tokens[position - 1]
                    alternatives = [(self._piece(before, t), lp) for t, lp in zip(ids, logprobs, strict=True)]
                    scored.append((float(row[tokens[position]]), alternatives))
        return scored

    def continuations(self, request: ScoreRequest) -> Scores:
        """Each continuation's log-likelihood after the prompt, and whether it is greedy. The
        prompt's last position predicts every continuation's first token, and a continuation's
        last token is never evaluated, so one-token answers cost nothing past the prompt."""
        import torch

        prompt = request.prompt
        longest = len(prompt) + max(map(len, request.continuations))
        if longest > self.n_ctx:
            raise too_long(longest, self.n_ctx)
        scores = []
        with torch.inference_mode():
            out = self.model(input_ids=torch.tensor([prompt]), use_cache=True, logits_to_keep=1)
            cache, after_prompt = out.cache, out.logits[0]
            for tokens in request.continuations:
                logits = after_prompt
                if len(tokens) > 1:  # on a copy of the prompt's cache, kept for the next continuation
                    more = self.model(input_ids=torch.tensor([tokens[:-1]]), cache=copy.deepcopy(cache))
                    logits = torch.cat([after_prompt, more.logits[0]])
                scores.append(continuation_score(logits.double().numpy(), tokens))
        return Scores(
            scores=scores, usage=Usage(prompt_tokens=len(prompt) + sum(map(len, request.continuations)))
        )

    def embed(self, request: EmbeddingRequest) -> Embeddings:
        """Unit-length means of the last hidden state over each input's tokens: a sane default
        for a model not trained for embeddings, and the vectors llama.cpp's mean pooling gives."""
        import torch

        width = int(self.model.config.hidden_size)
        if request.dimensions is not None and request.dimensions != width:
            raise InvalidRequestError(f"this model's embeddings have {width} dimensions")
        inputs = [item if isinstance(item, list) else self.tokenize(item, True) for item in request.input]
        longest = max(len(ids) for ids in inputs)
        if longest > MAX_EMBEDDING_CONTEXT:  # refused, as OpenAI does, rather than embedding a cut-off text
            raise too_long(longest, MAX_EMBEDDING_CONTEXT)
        decoder = self.model.get_decoder()
        vectors = []
        for ids in inputs:
            with torch.inference_mode():
                mean = decoder(input_ids=torch.tensor([ids])).last_hidden_state[0].double().mean(dim=0)
            vectors.append((mean / mean.norm()).tolist())
        return Embeddings(vectors=vectors, usage=Usage(prompt_tokens=sum(len(ids) for ids in inputs)))

    def tokenizer_info(self) -> dict[str, Any]:
        """What vLLM's ``/tokenizer_info`` says of a tokenizer, for clients that tokenize remotely."""
        tokenizer = self.tokenizer
        return {
            "tokenizer_class": type(tokenizer).__name__,
            "bos_token": tokenizer.bos_token,
            "eos_token": tokenizer.eos_token,
            "pad_token": tokenizer.pad_token,
            "add_bos_token": self.add_bos,
            "chat_template": tokenizer.chat_template,
            "model_max_length": self.n_ctx,
        }


def _pick(logits: Any, sampling: Sampling, generator: Any) -> int:
    """The next token: the likeliest at temperature 0, else drawn from the distribution at the
    temperature, cut to its top-p nucleus."""
    import torch

    if sampling.temperature == 0:
        return int(logits.argmax())
    probs = torch.softmax(logits.double() / sampling.temperature, dim=-1)
    ordered, order = probs.sort(descending=True)
    ordered[ordered.cumsum(0) - ordered >= sampling.top_p] = 0  # past the nucleus
    return int(order[torch.multinomial(ordered, 1, generator=generator)])
