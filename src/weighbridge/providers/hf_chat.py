"""Chat on a Hugging Face checkpoint: the prompt through the checkpoint's own chat template
(rendered sandboxed, as a GGUF's is), then tokens decoded into text as they come, cut at stop
strings, ending with a chunk that carries the finish reason and usage, as the llama.cpp
provider's stream does."""

from __future__ import annotations

from collections.abc import Generator

from weighbridge.errors import InvalidRequestError
from weighbridge.providers import chat_template
from weighbridge.providers.completions import Sampling, check_max_tokens
from weighbridge.providers.hf_model import Checkpoint
from weighbridge.providers.llamacpp import StopScanner
from weighbridge.types import ChatRequest, Completion, FinishReason, StreamChunk, Usage


def complete(checkpoint: Checkpoint, request: ChatRequest) -> Completion:
    """The whole answer: the stream's chunks added up."""
    parts, last = [], StreamChunk()
    for chunk in chat(checkpoint, request):
        parts.append(chunk.text)
        last = chunk
    return Completion(content="".join(parts), finish_reason=last.finish_reason, usage=last.usage or Usage())


def chat(checkpoint: Checkpoint, request: ChatRequest) -> Generator[StreamChunk, None, None]:
    """The answer's text in pieces as it is generated, then the finish reason and usage."""
    if request.response_format is not None and request.response_format.type != "text":
        raise InvalidRequestError(
            "the transformers provider cannot constrain output to JSON: ask without response_format, "
            "or serve the model as a GGUF through llama.cpp"
        )
    prompt = prompt_tokens(checkpoint, request)
    check_max_tokens(checkpoint.n_ctx, request.max_tokens)
    room = checkpoint.n_ctx - len(prompt)
    if room < 1:
        raise InvalidRequestError(
            f"the prompt is {len(prompt)} tokens; this model's context is {checkpoint.n_ctx}"
        )
    max_tokens = min(request.max_tokens or room, room)
    scanner, text = StopScanner(request.stop), _Detokenizer(checkpoint)
    count = 0  # the ending token is not part of the answer, nor counted
    for token in checkpoint.tokens_after(prompt, max_tokens, Sampling.of(request)):
        if checkpoint.ends(token):
            break
        count += 1
        if piece := scanner.feed(text.add(token)):
            yield StreamChunk(text=piece)
        if scanner.hit:
            break
    if not scanner.hit:  # what was held back for a stop string or a whole character is due
        tail = scanner.feed(text.rest())
        if tail := tail + ("" if scanner.hit else scanner.flush()):
            yield StreamChunk(text=tail)
    # ended by a stop string or the ending token, or cut at max_tokens
    finish: FinishReason = "stop" if scanner.hit or count < max_tokens else "length"
    yield StreamChunk(finish_reason=finish, usage=Usage(prompt_tokens=len(prompt), completion_tokens=count))


def prompt_tokens(checkpoint: Checkpoint, request: ChatRequest) -> list[int]:
    """The prompt the checkpoint's template makes of the messages (ChatML if it has none)."""
    tokenizer = checkpoint.tokenizer
    source = tokenizer.chat_template or chat_template.CHATML
    if request.tools and not chat_template.supports_tools(source):
        raise InvalidRequestError("this model's chat template does not support tools")
    bos, eos = tokenizer.bos_token or "", tokenizer.eos_token or ""
    messages = [{"role": m.role, "content": m.text()} for m in request.messages]
    prompt = chat_template.render(source, messages, bos_token=bos, eos_token=eos, tools=request.tools)
    return checkpoint.tokenize(prompt, add_special=not (bos and prompt.startswith(bos)))


class _Detokenizer:
    """The text that each new token adds. A character split over several tokens is held back
    until it is whole; each step decodes a short window, not everything so far (the window's
    first token gives the context a SentencePiece token's leading space needs)."""

    def __init__(self, checkpoint: Checkpoint) -> None:
        self._checkpoint = checkpoint
        self._tokens: list[int] = []
        self._start = self._read = 0

    def add(self, token: int) -> str:
        self._tokens.append(token)
        return self._take(final=False)

    def rest(self) -> str:
        """What is held back when the tokens end (an unfinished character, as U+FFFD)."""
        return self._take(final=True)

    def _take(self, final: bool) -> str:
        before = self._checkpoint.text(self._tokens[self._start : self._read])
        now = self._checkpoint.text(self._tokens[self._start :])
        if len(now) <= len(before) or (now.endswith("\ufffd") and not final):
            return ""
        self._start, self._read = self._read, len(self._tokens)
        return now[len(before) :]
