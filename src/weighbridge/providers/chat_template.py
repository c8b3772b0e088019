"""Rendering a model file's own chat template, safely.

A GGUF carries its chat template as Jinja source written by whoever made the file, so it is
untrusted code: it is rendered in Jinja2's ImmutableSandboxedEnvironment, which refuses
attribute access to internals and any mutation of the objects passed in.
"""

from __future__ import annotations

import datetime
from functools import lru_cache
from typing import Any

from jinja2 import TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from weighbridge.errors import InvalidRequestError, ModelLoadError

#: Used when a GGUF carries no template: ChatML, the most common format for instruct models.
CHATML = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{{ message['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def _raise_exception(message: str) -> None:
    raise TemplateError(message)


def _strftime_now(fmt: str) -> str:
    return datetime.datetime.now().strftime(fmt)


@lru_cache(maxsize=16)
def _compile(source: str) -> Any:
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    env.globals.update(raise_exception=_raise_exception, strftime_now=_strftime_now)
    try:
        return env.from_string(source)
    except TemplateError as exc:
        raise ModelLoadError(f"the model's chat template does not compile: {exc}") from None


def supports_tools(source: str) -> bool:
    return "tools" in source


def render(
    source: str,
    messages: list[dict[str, Any]],
    *,
    bos_token: str = "",
    eos_token: str = "",
    tools: list[dict[str, Any]] | None = None,
) -> str:
    """The prompt text for ``messages``, ending with the assistant's turn opened."""
    template = _compile(source)
    try:
        text: str = template.render(
            messages=messages,
            add_generation_prompt=True,
            bos_token=bos_token,
            eos_token=eos_token,
            tools=tools,
        )
    except TemplateError as exc:
        raise InvalidRequestError(f"the model's chat template refused the messages: {exc}") from None
    return text
