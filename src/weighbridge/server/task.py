"""A request's task, as a caller names it: for a route with ``strategy = "auto"``, which
chooses its target on the evidence for that task. The ``x-weighbridge-task`` header works with
any client; ``metadata.task`` with those that can set metadata but not headers."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from weighbridge.errors import InvalidRequestError
from weighbridge.types import ChatRequest

HEADER = "x-weighbridge-task"
#: As long as a task may be (``ChatRequest.task``).
_LONGEST = 200


def with_header(request: ChatRequest, headers: Mapping[str, str]) -> ChatRequest:
    """The request with the header's task, which wins over ``metadata.task``."""
    task = headers.get(HEADER, "").strip()
    if not task:
        return request
    if len(task) > _LONGEST:
        raise InvalidRequestError(f"{HEADER} is over {_LONGEST} characters")
    return request.model_copy(update={"task": task})


def task_of(metadata: dict[str, Any] | None) -> str | None:
    """The task a request's ``metadata`` names (both wires carry free-form metadata)."""
    task = (metadata or {}).get("task")
    if task is not None and not isinstance(task, str):
        raise InvalidRequestError("metadata.task must be a string")
    return task or None
