"""The embedded model as a Hugging Face checkpoint folder, for the transformers provider and
lm-eval's own ``hf`` backend to load."""

from __future__ import annotations

from pathlib import Path

import pytest

from weighbridge.config import load_settings
from weighbridge.own import lora_base
from weighbridge.weights import weight_sha256


def dequantized_embedded(home: Path) -> Path:
    """The embedded GGUF dequantized by transformers and saved as a float32 safetensors
    checkpoint with its tokenizer under ``home`` (a weighbridge home of its own), as a
    fine-tune's base is; made on the first call, found on the next."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv("WEIGHBRIDGE_HOME", str(home))
        env.delenv("WEIGHBRIDGE_CONFIG", raising=False)
        env.delenv("WEIGHBRIDGE_DATABASE_URL", raising=False)
        settings = load_settings()
        store = settings.open_store()
        try:
            base = lora_base.find(settings, "smollm2-135m", lambda path: weight_sha256(store, path))
        finally:
            store.close()
        return lora_base.dequantized(settings, base)
