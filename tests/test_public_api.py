"""The public surface is deliberate, and importing it stays light."""

from __future__ import annotations

import subprocess
import sys

import weighbridge


def test_exported_names() -> None:
    assert sorted(weighbridge.__all__) == sorted(
        [
            "AsyncStream",
            "ChatRequest",
            "ChatResponse",
            "Client",
            "ConfigError",
            "InvalidRequestError",
            "Message",
            "MissingKeyError",
            "ModelLoadError",
            "ProviderError",
            "Stream",
            "StreamChunk",
            "StreamInterruptedError",
            "UnknownModelError",
            "Usage",
            "WeighbridgeError",
            "achat",
            "astream",
            "chat",
            "stream",
        ]
    )
    for name in weighbridge.__all__:
        assert getattr(weighbridge, name) is not None


def test_import_and_help_load_no_heavy_modules() -> None:
    code = (
        "import sys, weighbridge, weighbridge.cli;"
        "heavy = [m for m in ('llama_cpp', 'httpx', 'pydantic', 'rich', 'torch', 'jinja2') if m in sys.modules];"
        "print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
