"""The guard: which detectors run on a text, and redaction with a vault.

Built-in kinds can be narrowed with ``kinds``; user patterns and term lists always run and
report spans under their own names. Where detections overlap the longest span wins; on a tie
a user's pattern or term beats a built-in (the user said what it is), then built-ins go in
the order of :data:`BUILTIN_KINDS`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator

from weighbridge.errors import ConfigError
from weighbridge.privacy.addresses import find_addresses
from weighbridge.privacy.detectors import (
    find_cards,
    find_emails,
    find_ibans,
    find_ips,
    find_obfuscated_emails,
    find_phones,
    find_ssns,
)
from weighbridge.privacy.identity import find_birth_dates, find_people, find_record_numbers
from weighbridge.privacy.secrets import find_secrets
from weighbridge.privacy.spans import Span, from_match, resolve
from weighbridge.privacy.vault import Vault

Detector = Callable[[str], Iterable[Span]]


def _emails(text: str) -> Iterator[Span]:
    yield from find_emails(text)
    yield from find_obfuscated_emails(text)


_BUILTINS: dict[str, Detector] = {
    "secret": find_secrets,
    "email": _emails,
    "iban": find_ibans,
    "card": find_cards,
    "ssn": find_ssns,
    "ip": find_ips,
    "phone": find_phones,
    "person": find_people,
    "mrn": find_record_numbers,
    "dob": find_birth_dates,
    "address": find_addresses,
}
BUILTIN_KINDS: tuple[str, ...] = tuple(_BUILTINS)


class Guard:
    """Finds sensitive spans in text and redacts them into a :class:`Vault`.

    ``patterns``: user regexes by name. ``terms``: user word lists by name, matched
    case-insensitively as whole words. ``kinds``: the built-in kinds to run (``None``: all).
    A bad regex or an unknown kind is a :class:`~weighbridge.errors.ConfigError`.
    """

    def __init__(
        self,
        *,
        patterns: dict[str, str] | None = None,
        terms: dict[str, list[str]] | None = None,
        kinds: set[str] | None = None,
    ) -> None:
        unknown = sorted((kinds or set()) - set(_BUILTINS))
        if unknown:
            raise ConfigError(
                f"unknown privacy kind(s) {', '.join(unknown)}; known: {', '.join(BUILTIN_KINDS)}."
            )
        self._builtins = [fn for kind, fn in _BUILTINS.items() if kinds is None or kind in kinds]
        self._user: list[tuple[str, re.Pattern[str]]] = []
        for name, regex in (patterns or {}).items():
            try:
                self._user.append((name, re.compile(regex)))
            except re.error as exc:
                raise ConfigError(
                    f"privacy pattern '{name}' is not a valid regular expression: {exc}."
                ) from exc
        for name, words in (terms or {}).items():
            alternatives = sorted({w.strip() for w in words if w.strip()}, key=len, reverse=True)
            if alternatives:
                body = "|".join(re.escape(w) for w in alternatives)
                self._user.append((name, re.compile(rf"(?<!\w)(?:{body})(?!\w)", re.IGNORECASE)))
        self._priority = {name: i for i, (name, _) in enumerate(self._user)}
        for kind in BUILTIN_KINDS:
            self._priority.setdefault(kind, len(self._priority))

    def _candidates(self, text: str) -> Iterator[Span]:
        for name, pattern in self._user:
            for m in pattern.finditer(text):
                yield from_match(name, m)
        for detector in self._builtins:
            yield from detector(text)

    def detect(self, text: str) -> list[Span]:
        """The sensitive spans of ``text``, in order, none overlapping."""
        return resolve(self._candidates(text), self._priority)

    def flags(self, text: str) -> bool:
        """Whether ``text`` holds anything sensitive (stops at the first finding)."""
        return any(span.end > span.start for span in self._candidates(text))

    def redact(self, text: str, vault: Vault) -> str:
        """``text`` with each span replaced by its placeholder in ``vault``."""
        vault.reserve(text)
        out: list[str] = []
        pos = 0
        for span in self.detect(text):
            out.append(text[pos : span.start])
            out.append(vault.placeholder_for(span.kind, span.text))
            pos = span.end
        out.append(text[pos:])
        return "".join(out)
