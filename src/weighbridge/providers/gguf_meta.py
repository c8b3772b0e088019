"""Reading a GGUF file's metadata without loading its weights (or importing llama.cpp).

Enough of the format (https://github.com/ggml-org/ggml/blob/master/docs/gguf.md) to read the
key-value header: the context length to size the KV cache, and the chat template.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any, BinaryIO

from weighbridge.errors import ModelLoadError

_SCALARS = {
    0: "<B",
    1: "<b",
    2: "<H",
    3: "<h",
    4: "<I",
    5: "<i",
    6: "<f",
    7: "<?",
    10: "<Q",
    11: "<q",
    12: "<d",
}
_STRING, _ARRAY = 8, 9


def read_metadata(path: Path) -> dict[str, Any]:
    """The key-value metadata of a GGUF file; arrays longer than 64 items are skipped."""
    try:
        with path.open("rb") as f:
            if f.read(4) != b"GGUF":
                raise ModelLoadError(f"{path} is not a GGUF file (it does not start with 'GGUF')")
            version, _tensors, count = struct.unpack("<IQQ", _exact(f, 20))
            if version < 2:
                raise ModelLoadError(f"{path} is GGUF version {version}; version 2 or later is needed")
            meta: dict[str, Any] = {}
            for _ in range(count):
                key = _string(f)
                meta[key] = _value(f, struct.unpack("<I", _exact(f, 4))[0])
            return meta
    except OSError as exc:
        raise ModelLoadError(f"cannot read weight file {path}: {exc.strerror}") from None
    except (EOFError, struct.error, UnicodeDecodeError, KeyError):
        raise ModelLoadError(f"{path} is truncated or corrupt: its GGUF header cannot be read") from None


def _exact(f: BinaryIO, n: int) -> bytes:
    data = f.read(n)
    if len(data) != n:
        raise EOFError
    return data


def _string(f: BinaryIO) -> str:
    (length,) = struct.unpack("<Q", _exact(f, 8))
    return _exact(f, length).decode("utf-8")


def _value(f: BinaryIO, kind: int) -> Any:
    if kind == _STRING:
        return _string(f)
    if kind == _ARRAY:
        item_kind, length = struct.unpack("<IQ", _exact(f, 12))
        items = [_value(f, item_kind) for _ in range(length)]
        return items if length <= 64 else None
    fmt = _SCALARS[kind]
    return struct.unpack(fmt, _exact(f, struct.calcsize(fmt)))[0]
