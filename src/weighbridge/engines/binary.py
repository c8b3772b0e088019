"""Where the ``llama-server`` binary is.

``./setup.sh`` builds it from the llama.cpp sources that the llama-cpp-python sdist vendors, so
the engine and the in-process path run the same llama.cpp, and installs it beside the venv's
Python. ``WEIGHBRIDGE_LLAMA_SERVER`` points at another build (a CUDA one, say).
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from weighbridge.errors import ModelLoadError

ENV = "WEIGHBRIDGE_LLAMA_SERVER"


def find_llama_server() -> Path | None:
    explicit = os.environ.get(ENV)
    if explicit:
        return Path(explicit)
    beside = Path(sys.prefix) / "bin" / "llama-server"
    if beside.exists():
        return beside
    found = shutil.which("llama-server")
    return Path(found) if found else None


def missing_reason() -> str:
    """Why there is no llama-server, as ``./setup.sh`` recorded it when its build failed."""
    recorded = Path(sys.prefix) / "llama-server.missing"
    try:
        return recorded.read_text("utf-8").strip()
    except OSError:
        return "not built: ./setup.sh builds it"


def llama_server() -> Path:
    path = find_llama_server()
    if path is None or not os.access(path, os.X_OK):
        why = missing_reason() if path is None else f"not executable at {path}"
        raise ModelLoadError(
            f"llama-server is missing ({why}): set {ENV} to a build of it, "
            f"or serve in-process with 'weighbridge serve --engine in-process'"
        )
    return path


def in_process_note() -> str:
    """One line for ``serve`` and ``ps`` to print when local models cannot run in engines."""
    return (
        f"note: no llama-server ({missing_reason()}): serve runs local models in-process, "
        "one request at a time"
    )
