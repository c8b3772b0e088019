"""The sha256 of a local weight file, computed once and cached by path, size and mtime.

Hashing a multi-gigabyte file takes seconds; a changed size or mtime means a changed file, so
those three identify a file version cheaply and the hash is only recomputed when they move.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from weighbridge.store import Store

_BLOCK = 1 << 20


def weight_sha256(store: Store, path: Path) -> str:
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    cached = store.cached_hash(*key)
    if cached is not None:
        return cached
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(_BLOCK):
            digest.update(block)
    sha = digest.hexdigest()
    store.save_hash(*key, sha)
    return sha
