"""Reading a request's JSON body: a body too large, malformed or nested too deeply is the
caller's mistake, refused in the caller's protocol before anything else looks at it.

Depth is bounded because every later reader (pydantic, the privacy guard, the log's JSON
encoder) walks the body recursively: a few kilobytes of ``[[[[...`` would otherwise surface
as a ``RecursionError`` deep inside the gateway instead of a 400 at its door.
"""

from __future__ import annotations

import json
import re
from typing import Any

from starlette.requests import Request

from weighbridge.errors import InvalidRequestError
from weighbridge.server.errors import HTTPFailure, Refused

#: Request bodies above this are refused with 413 before they are read whole.
MAX_BODY_BYTES = 16 * 1024 * 1024
#: Deeper than any real request (a tool's JSON schema nests a few dozen levels at most).
MAX_DEPTH = 128


async def read_json(request: Request) -> Any:
    """The request's JSON body, or the caller's error: 413 over the size limit, 400 when it is
    not JSON or nests deeper than ``MAX_DEPTH``."""
    too_big = HTTPFailure(413, f"request body over {MAX_BODY_BYTES // (1024 * 1024)} MiB")
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise Refused(too_big)
    raw = bytearray()
    async for piece in request.stream():
        raw += piece
        if len(raw) > MAX_BODY_BYTES:
            raise Refused(too_big)
    try:
        value = json.loads(raw)
    except RecursionError:
        raise _too_deep() from None
    except ValueError:
        raise InvalidRequestError("the request body is not valid JSON") from None
    problem = check(value, MAX_DEPTH, strings=_SURROGATE_ESCAPE.search(raw) is not None)
    if problem == "depth":
        raise _too_deep()
    if problem == "surrogate":
        raise InvalidRequestError(
            "the request body has a lone UTF-16 surrogate (\\ud800-\\udfff) in a string"
        )
    return value


#: A ``\uD800``-``\uDFFF`` escape: the only way a decoded string can hold a surrogate, which
#: no text encoder downstream (the tokenizer, the log) accepts unpaired.
_SURROGATE_ESCAPE = re.compile(rb"\\[uU][dD][89a-fA-F]")


def check(value: Any, limit: int, *, strings: bool = False) -> str | None:
    """``"depth"`` when ``value`` nests arrays or objects more than ``limit`` levels,
    ``"surrogate"`` when ``strings`` is asked for and a string (or key) holds an unpaired
    surrogate; ``None`` when neither. Iterative, so the check itself cannot overflow."""
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            if strings and any(not _encodable(key) for key in node):
                return "surrogate"
            children: Any = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        for child in children:
            if isinstance(child, (dict, list)):
                if depth >= limit:
                    return "depth"
                stack.append((child, depth + 1))
            elif strings and isinstance(child, str) and not _encodable(child):
                return "surrogate"
    if strings and isinstance(value, str) and not _encodable(value):
        return "surrogate"
    return None


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _too_deep() -> InvalidRequestError:
    return InvalidRequestError(f"the request body nests arrays or objects more than {MAX_DEPTH} levels deep")
