"""The public surface is deliberate, and importing it stays light."""

from __future__ import annotations

import inspect
import subprocess
import sys
from pathlib import Path

import weighbridge


def test_exported_names() -> None:
    assert sorted(weighbridge.__all__) == sorted(
        [
            "AsyncStream",
            "ChatRequest",
            "ChatResponse",
            "Client",
            "ConfigError",
            "ImageRequest",
            "ImageResponse",
            "InvalidRequestError",
            "Message",
            "MissingKeyError",
            "ModelLoadError",
            "NoRouteError",
            "ProviderConnectionError",
            "ProviderError",
            "ProviderTimeoutError",
            "StoreUnavailableError",
            "Stream",
            "StreamChunk",
            "StreamInterruptedError",
            "UnknownModelError",
            "Usage",
            "WeighbridgeError",
            "achat",
            "astream",
            "chat",
            "evaluate",
            "image",
            "stream",
        ]
    )
    for name in weighbridge.__all__:
        assert getattr(weighbridge, name) is not None


def test_every_error_a_caller_can_catch_is_exported() -> None:
    import weighbridge.errors

    errors = {
        name
        for name, value in vars(weighbridge.errors).items()
        if isinstance(value, type) and issubclass(value, weighbridge.WeighbridgeError)
    }
    assert errors <= set(weighbridge.__all__)
    assert issubclass(weighbridge.ProviderTimeoutError, weighbridge.ProviderError)
    assert issubclass(weighbridge.ProviderConnectionError, weighbridge.ProviderError)


def test_module_functions_and_client_methods_share_one_signature() -> None:
    for name in ("chat", "achat", "stream", "astream"):
        function = inspect.signature(getattr(weighbridge, name))
        method = inspect.signature(getattr(weighbridge.Client, name))
        assert list(function.parameters.values()) == list(method.parameters.values())[1:], name  # no self


def test_the_package_declares_its_types() -> None:
    assert (Path(weighbridge.__file__).parent / "py.typed").exists()


def test_import_and_help_load_no_heavy_modules() -> None:
    code = (
        "import sys, weighbridge, weighbridge.cli;"
        "heavy = [m for m in ('llama_cpp', 'httpx', 'pydantic', 'rich', 'torch', 'jinja2') if m in sys.modules];"
        "print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
