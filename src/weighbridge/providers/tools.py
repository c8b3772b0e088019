"""Reading OpenAI-shaped tools, tool choices and tool-call arguments, for the providers that
translate them into another protocol's words (Anthropic, Gemini)."""

from __future__ import annotations

import json
from typing import Any

from weighbridge.errors import InvalidRequestError


def function_of(tool: dict[str, Any], provider: str) -> dict[str, Any]:
    """The ``function`` of a ``{"type": "function", "function": {...}}`` tool, checked."""
    function = tool.get("function")
    if tool.get("type") != "function" or not isinstance(function, dict) or not function.get("name"):
        raise InvalidRequestError(f"{provider} takes tools of type 'function' with a function name")
    return function


def chosen_function(choice: dict[str, Any]) -> str:
    """The function name a ``{"type": "function", "function": {"name": ...}}`` choice forces."""
    name = (choice.get("function") or {}).get("name")
    if choice.get("type") != "function" or not name:
        raise InvalidRequestError('tool_choice must name a function: {"type": "function", ...}')
    return str(name)


def parse_arguments(arguments: str | dict[str, Any] | None) -> dict[str, Any]:
    """Tool call arguments (OpenAI: JSON text) as the object Anthropic and Gemini expect."""
    if isinstance(arguments, dict):
        return arguments
    if not arguments:
        return {}
    try:
        value = json.loads(arguments)
    except ValueError:
        raise InvalidRequestError(f"tool call arguments are not valid JSON: {arguments[:80]!r}") from None
    if not isinstance(value, dict):
        raise InvalidRequestError("tool call arguments must be a JSON object")
    return value
