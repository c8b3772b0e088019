"""Placeholders for redacted values, and putting the values back into an answer.

One :class:`Vault` per request: a closed model sees ``[EMAIL_1]`` where the user wrote an
address, and the vault turns ``[EMAIL_1]`` in the answer back into that address. The same
value always gets the same placeholder, so the model can still tell that two mentions are the
same person. Only placeholders this vault issued are restored; anything else in brackets,
including a placeholder the model made up or garbled, is left as the model wrote it.

Placeholder-shaped text that is already in a redacted text (a user who literally typed
``[EMAIL_1]``) is reserved, so no value is given that name and its echo is never "restored".
"""

from __future__ import annotations

import re

#: Any placeholder-shaped token. It has exactly one ``[``, which is what lets a stream be
#: restored piece by piece (see :class:`StreamRestorer`).
PLACEHOLDER = re.compile(r"\[[A-Z0-9_]+\]")


def label(kind: str) -> str:
    """The placeholder stem for a kind: ``email`` -> ``EMAIL``, ``project-x`` -> ``PROJECT_X``."""
    return re.sub(r"[^A-Z0-9]+", "_", kind.upper()).strip("_") or "REDACTED"


class Vault:
    """Placeholder <-> original value, for one request."""

    def __init__(self) -> None:
        self._by_value: dict[str, str] = {}
        self._by_placeholder: dict[str, str] = {}
        self._counts: dict[str, int] = {}
        self._reserved: set[str] = set()

    def __len__(self) -> int:
        return len(self._by_placeholder)

    def placeholder_for(self, kind: str, value: str) -> str:
        """The placeholder of ``value``: the one it already has, else the next free one."""
        known = self._by_value.get(value)
        if known is not None:
            return known
        stem = label(kind)
        n = self._counts.get(stem, 0)
        while True:
            n += 1
            placeholder = f"[{stem}_{n}]"
            if placeholder not in self._reserved and placeholder not in self._by_placeholder:
                break
        self._counts[stem] = n
        self._by_value[value] = placeholder
        self._by_placeholder[placeholder] = value
        return placeholder

    def reserve(self, text: str) -> None:
        """Never issue a placeholder that already appears, as typed, in ``text``."""
        self._reserved.update(m.group() for m in PLACEHOLDER.finditer(text))

    def original(self, placeholder: str) -> str | None:
        """The value behind ``placeholder``, or ``None`` if this vault did not issue it."""
        return self._by_placeholder.get(placeholder)

    def restore(self, text: str) -> str:
        """``text`` with every placeholder this vault issued replaced by its value."""
        if not self._by_placeholder or "[" not in text:
            return text
        return PLACEHOLDER.sub(lambda m: self._by_placeholder.get(m.group(), m.group()), text)

    def restorer(self) -> StreamRestorer:
        """A restorer for one streamed answer."""
        return StreamRestorer(self)

    def is_partial(self, tail: str) -> bool:
        """``tail`` is the start of a placeholder this vault issued, but not all of it."""
        return any(len(p) > len(tail) and p.startswith(tail) for p in self._by_placeholder)


class StreamRestorer:
    """Restores placeholders in an answer that arrives in pieces split anywhere.

    A piece is emitted at once except for a trailing ``[...`` that could still become one of
    the vault's placeholders; that tail waits for the next piece (or :meth:`flush`). Because
    a placeholder holds a single ``[``, only the last ``[`` of the text seen so far can start
    one that is unfinished, so at most one placeholder's length is ever held back, and the
    pieces put together equal ``vault.restore`` of the whole answer.
    """

    def __init__(self, vault: Vault) -> None:
        self._vault = vault
        self._held = ""

    def feed(self, piece: str) -> str:
        """What can be emitted now that ``piece`` has arrived."""
        text = self._held + piece
        cut = text.rfind("[")
        if cut != -1 and self._vault.is_partial(text[cut:]):
            self._held, text = text[cut:], text[:cut]
        else:
            self._held = ""
        return self._vault.restore(text)

    def flush(self) -> str:
        """The rest, at the end of the stream: a held tail that never completed, as it was."""
        text, self._held = self._held, ""
        return self._vault.restore(text)
