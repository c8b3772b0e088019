"""Context rules shared by the number detectors: does a match stand alone, and does the word
before it say it is an identifier?

A regex sees a phone-shaped or card-shaped run of digits; these rules look one step outside
it. ``4111 1111 1111 1111 2222`` holds no card and ``v10.0.0.1.2`` no IP because the number
goes on; "order number 555-123-4567" is an order, not a phone, because of the word before.
"""

from __future__ import annotations

import re

_SEPARATORS = " -."


def standalone(text: str, start: int, end: int) -> bool:
    """Nothing word-like touches ``text[start:end]``, and it does not continue as a longer
    number: no digit one ``-`` or ``.`` away, no group of 3+ digits one space away
    (``4111 1111 1111 1111 2222`` holds no card, ``v10.0.0.1.2`` no IP; but in
    "call 555-123-4567 2 times" the phone stands alone)."""
    before = text[start - 1] if start > 0 else " "
    after = text[end] if end < len(text) else " "
    if before.isalnum() or before in "_/-+" or after.isalnum() or after in "_/-":
        return False
    if before in _SEPARATORS and _CONTINUES_BEFORE[before].search(text, max(0, start - 5), start - 1):
        return False
    return not (after in _SEPARATORS and _CONTINUES_AFTER[after].match(text, end + 1))


_CONTINUES_BEFORE = {" ": re.compile(r"(?<!\d)\d{3,}$"), "-": re.compile(r"\d$"), ".": re.compile(r"\d$")}
_CONTINUES_AFTER = {" ": re.compile(r"\d{3,}(?!\d)"), "-": re.compile(r"\d"), ".": re.compile(r"\d")}

_WORD_BEFORE = re.compile(r"([A-Za-z]+)\W{0,3}$")

#: Words that, just before a number, say it is an identifier rather than a phone or an IP.
ID_WORDS = frozenset([
    "order", "ord", "invoice", "inv", "sku", "part", "pn", "ref", "reference", "ticket", "case",
    "po", "id", "tracking", "serial", "account", "acct", "build", "version", "ver", "v", "release",
    "isbn", "issn", "firmware", "fw", "patch", "rev", "revision", "batch", "lot", "model", "item",
])  # fmt: skip
#: Numbers that carry a Luhn digit without being cards.
NOT_CARD_WORDS = frozenset(["imei", "imeisv", "meid", "iccid", "sim", "serial", "tracking", "order"])


def id_word_before(text: str, start: int, words: frozenset[str] = ID_WORDS) -> bool:
    """The word right before ``start`` (within three non-word characters) is one of ``words``.

    "number" counts only after one of them: "order number 555-123-4567" is an id,
    "phone number +1 555..." and "'To' number +1..." are not.
    """
    match = _WORD_BEFORE.search(text, max(0, start - 40), start)
    if not match:
        return False
    word = match.group(1).lower()
    if word in ("number", "no", "num", "nr"):
        prev = _WORD_BEFORE.search(text, max(0, match.start() - 40), match.start())
        return prev is not None and prev.group(1).lower() in words
    return word in words
