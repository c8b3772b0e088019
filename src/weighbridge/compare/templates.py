"""``{{var}}`` templates in prompts, system prompts, references and check values.

Prompt files come from anywhere, so templates render in jinja2's immutable sandbox (no
attribute tricks reach Python internals), and a variable the test does not define is an error
rather than an empty string: a prompt that silently lost its input would be scored as the
model's failure.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment


class TemplateError(ValueError):
    """A template that cannot render; the message names the variable or the syntax error."""


@cache
def _environment() -> ImmutableSandboxedEnvironment:
    return ImmutableSandboxedEnvironment(
        undefined=jinja2.StrictUndefined, keep_trailing_newline=True, autoescape=False
    )


def render(text: str, variables: dict[str, Any]) -> str:
    """``text`` with its ``{{var}}`` filled in; text without template syntax is returned as is."""
    if "{{" not in text and "{%" not in text:
        return text
    try:
        return _environment().from_string(text).render(variables)
    except jinja2.UndefinedError as exc:
        defined = ", ".join(sorted(variables)) or "none"
        raise TemplateError(f"template variable missing: {exc.message} (defined: {defined})") from None
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateError(f"template syntax error: {exc.message}") from None
    except jinja2.TemplateError as exc:
        raise TemplateError(f"template error: {exc}") from None


def render_any(value: Any, variables: dict[str, Any]) -> Any:
    """Strings rendered, lists and mappings walked, anything else kept."""
    if isinstance(value, str):
        return render(value, variables)
    if isinstance(value, list):
        return [render_any(v, variables) for v in value]
    if isinstance(value, dict):
        return {k: render_any(v, variables) for k, v in value.items()}
    return value
