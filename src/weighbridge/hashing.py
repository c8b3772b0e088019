"""One way to hash content: canonical JSON (keys sorted, no spaces, text as UTF-8, not escaped)
and sha256, written ``sha256:<hex>``.

The audit chain, compare's answer-cache keys, drift's canary ids, logged texts under the
``hash`` retention and key digests all hash through here, so equal content has one digest
wherever it is computed, and a record's hash can be recomputed by anyone who reads this.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def digest(text: str) -> str:
    """``sha256:<hex>`` of a text (a key, a prompt)."""
    return "sha256:" + sha256_hex(text)


def content_hash(value: Any) -> str:
    """``sha256:<hex>`` of a JSON-able value, independent of key order."""
    return digest(canonical_json(value))
