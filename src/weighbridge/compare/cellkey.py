"""The content hash that names a cell: what was asked, of exactly which model.

It covers the model id, the weights (the sha256 of a local file, or of a checkpoint folder
with its LoRA adapter) or the closed model's upstream snapshot id, every parameter the
provider will see (after the catalog's defaults and default system prompt are applied, so
changing those changes the key), the rendered messages and the sample number. Two runs that
ask the same thing of the same weights share their cells. An image cell's request is the
picture's prompt and every option it was drawn with, a prompt's own size, seed, steps,
negative prompt and count included, so changing one in the prompt set makes that prompt's
pictures again and no other's.

A closed model is known before the call only by the upstream id its entry names; where that
is an alias the provider may repoint (``gpt-4o-mini``), name the dated snapshot in the config
to make the key exact. The snapshot that actually answered is kept with each cell.
"""

from __future__ import annotations

import asyncio

from weighbridge.hashing import content_hash
from weighbridge.store import Store
from weighbridge.targets import Target
from weighbridge.types import ChatRequest, ImageRequest
from weighbridge.weights import weight_sha256

_VERSION = 1


async def identity(store: Store, target: Target) -> str:
    """The weights' sha256 for local weights; the provider and upstream id for anything served."""
    if target.weight_file is not None:
        sha = await asyncio.to_thread(weight_sha256, store, target.weight_file, target.adapter)
        return f"sha256:{sha}"
    return f"{target.provider_name}:{target.upstream}"


class Identities:
    """Each served model's :func:`identity`, looked up once per run rather than once per cell
    (a local model's is a lookup of its weights' hash, off the event loop)."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._known: dict[tuple[str, str], str] = {}

    async def of(self, target: Target) -> str:
        where = (target.provider_name, target.upstream)
        if where not in self._known:
            self._known[where] = await identity(self._store, target)
        return self._known[where]


def cell_hash(model: str, weights: str, request: ChatRequest | ImageRequest, sample: int) -> str:
    asked = request.model_dump(mode="json", exclude_none=True, exclude={"model"})
    payload = {"v": _VERSION, "model": model, "weights": weights, "request": asked, "sample": sample}
    return content_hash(payload)
