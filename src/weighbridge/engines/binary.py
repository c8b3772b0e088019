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


def llama_server() -> Path:
    path = find_llama_server()
    if path is None or not os.access(path, os.X_OK):
        raise ModelLoadError(
            f"llama-server is not installed{f' at {path}' if path else ''}: run ./setup.sh, which builds it, "
            f"or set {ENV}; or serve in-process with 'weighbridge serve --engine in-process'"
        )
    return path
