"""The ``python`` check: a function the user wrote, named ``file.py:function``.

It receives the answer text and a context dict (``vars``, ``reference``, ``prompt``,
``model``, ``latency_s``, ``cost_usd``) and returns a bool, a number in [0, 1], or a dict
``{"score": ..., "pass": ..., "reason": ...}``. The file is the user's own code, run in this
process as a pytest conftest would be; each file is imported once per process.
"""

from __future__ import annotations

import importlib.util
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

_MODULES: dict[Path, ModuleType] = {}
_LOCK = threading.Lock()


class UserFunctionError(Exception):
    """The function cannot be found, raised, or returned something that is not a score."""


def function(spec: str) -> Callable[..., Any]:
    """The callable named by ``/abs/path/file.py:function``."""
    file, _, name = spec.rpartition(":")
    path = Path(file)
    with _LOCK:
        module = _MODULES.get(path)
        if module is None:
            if not path.is_file():
                raise UserFunctionError(f"{path} does not exist")
            loaded = importlib.util.spec_from_file_location(f"weighbridge_user_{len(_MODULES)}", path)
            if loaded is None or loaded.loader is None:
                raise UserFunctionError(f"{path} cannot be imported")
            module = importlib.util.module_from_spec(loaded)
            sys.modules[module.__name__] = module  # as an import would: dataclasses need it
            try:
                loaded.loader.exec_module(module)
            except Exception as exc:
                sys.modules.pop(module.__name__, None)
                raise UserFunctionError(
                    f"importing {path.name} failed: {type(exc).__name__}: {exc}"
                ) from None
            _MODULES[path] = module
    found = getattr(module, name, None)
    if not callable(found):
        raise UserFunctionError(f"{path.name} has no function '{name}'")
    return found  # type: ignore[no-any-return]


def call(spec: str, output: str, context: dict[str, Any]) -> tuple[float, bool | None, str]:
    """Run the function: its score in [0, 1], its own pass/fail if it gave one, and a reason."""
    fn = function(spec)
    try:
        result = fn(output, context)
    except Exception as exc:
        line = _user_line(exc)
        raise UserFunctionError(f"{fn.__name__} raised {type(exc).__name__}: {exc}{line}") from None
    return _interpret(result, fn.__name__)


def _interpret(result: Any, name: str) -> tuple[float, bool | None, str]:
    if isinstance(result, bool):
        return float(result), result, f"{name} returned {result}"
    if isinstance(result, int | float):
        return _unit(result, name), None, f"{name} returned {result:g}"
    if isinstance(result, dict):
        unknown = set(result) - {"score", "pass", "reason"}
        if unknown:
            raise UserFunctionError(f"{name} returned unknown keys {sorted(unknown)}")
        passed = result.get("pass")
        if passed is not None and not isinstance(passed, bool):
            raise UserFunctionError(f"{name} returned a 'pass' that is not true or false")
        raw = result.get("score", float(passed) if passed is not None else None)
        if raw is None or isinstance(raw, bool) or not isinstance(raw, int | float):
            raise UserFunctionError(f"{name} returned no numeric 'score' and no 'pass'")
        reason = str(result.get("reason") or f"{name} returned {raw:g}")
        return _unit(raw, name), passed, reason
    raise UserFunctionError(f"{name} returned {type(result).__name__}: return a bool, a number or a dict")


def _unit(value: float, name: str) -> float:
    if not 0 <= value <= 1:
        raise UserFunctionError(f"{name} returned {value:g}: a score must be between 0 and 1")
    return float(value)


def _user_line(exc: Exception) -> str:
    tb = exc.__traceback__
    where = ""
    while tb is not None:
        if tb.tb_frame.f_code.co_filename in {str(p) for p in _MODULES}:
            where = f" ({Path(tb.tb_frame.f_code.co_filename).name}, line {tb.tb_lineno})"
        tb = tb.tb_next
    return where


def forget() -> None:
    """Drop the imported files (tests that rewrite a file between runs)."""
    with _LOCK:
        for module in _MODULES.values():
            sys.modules.pop(module.__name__, None)
        _MODULES.clear()
