"""Pictures on disk, named by their sha256: what the log's image records point to.

The log keeps each picture's sha256 whatever the retention (it names the picture, and says
nothing of the prompt); the picture itself is kept only under retention ``full``, as the text of
an answer is. A picture asked for as a URL must outlive the request for the caller to fetch
it: under any other retention it is kept for :data:`URL_LIFETIME_S` (as OpenAI's image URLs
expire after an hour) in a folder of its own, swept as new ones are written.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

from weighbridge.types import GeneratedImage

#: How long a picture kept only for its URL stays on disk.
URL_LIFETIME_S = 3600.0
_NAME = re.compile(r"^[0-9a-f]{64}\.(png|jpeg|webp)$")
MEDIA_TYPES = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp"}


class Pictures:
    """The pictures folder in a weighbridge home."""

    def __init__(self, home: Path) -> None:
        self.kept = home / "images"
        self.expiring = self.kept / "expiring"

    def keep(self, image: GeneratedImage, *, for_url_only: bool = False) -> str:
        """Write ``image`` (once: the name is its hash) and return its file name."""
        name = f"{image.sha256}.{image.format}"
        folder = self.expiring if for_url_only else self.kept
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / name
        if not path.exists():
            partial = path.with_name(f".{name}.{os.getpid()}")
            partial.write_bytes(image.data)
            partial.replace(path)  # whole or absent: a reader never sees half a picture
        if for_url_only:
            self._sweep()
        return name

    def find(self, name: str) -> Path | None:
        """The file of a picture name from :meth:`keep`; None for any other name or a picture
        no longer kept."""
        if not _NAME.match(name):
            return None
        for folder in (self.kept, self.expiring):
            path = folder / name
            if path.is_file() and (folder is self.kept or not _expired(path)):
                return path
        return None

    def _sweep(self) -> None:
        for path in self.expiring.iterdir():
            if _expired(path):
                path.unlink(missing_ok=True)


def _expired(path: Path) -> bool:
    try:
        return time.time() - path.stat().st_mtime > URL_LIFETIME_S
    except FileNotFoundError:
        return True
