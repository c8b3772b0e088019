"""Detectors for personal and financial data: email (plain and spelled out), phone, card, IBAN,
US SSN, IP.

Each is a regex that finds candidates followed by a validator that throws most of them away:
checksums for cards (Luhn) and IBANs (mod-97), issuing rules for SSNs, ``ipaddress`` for IPs,
and shape rules for phones (digit counts, separators, and no "order"/"version" word just
before). A candidate must also stand alone: a number glued to letters, or continuing with
another separator and digit, is part of something longer (a SKU, a version, a longer id).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator

from weighbridge.privacy.checks import IBAN_LENGTHS, iban_ok, luhn_ok, ssn_ok
from weighbridge.privacy.context import NOT_CARD_WORDS, id_word_before, standalone
from weighbridge.privacy.spans import Span, from_match, span_at

_EMAIL = re.compile(
    r"(?<![\w.+%-])[A-Za-z0-9_%+-][A-Za-z0-9_%+'-]*(?:\.[A-Za-z0-9_%+'-]+)*"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+([A-Za-z]{2,63})(?![\w-]|\.[A-Za-z0-9])"
)
#: Image and code file extensions: ``icon@2x.png`` and ``lodash@4.17.js`` are not addresses.
_FILE_TLDS = frozenset([
    "png", "jpg", "jpeg", "gif", "svg", "webp", "ico", "bmp", "tif", "tiff",
    "js", "mjs", "ts", "tsx", "jsx", "css", "map", "json", "lock",
])  # fmt: skip


def find_emails(text: str) -> Iterator[Span]:
    """Practical addresses (the local-part characters people use, not all RFC 5322 allows);
    not the user part of a URL (``https://token@host``) nor a retina image name."""
    if "@" not in text:
        return
    for m in _EMAIL.finditer(text):
        if m.group(1).lower() not in _FILE_TLDS and not _in_url_authority(text, m.start()):
            yield from_match("email", m)


def _in_url_authority(text: str, start: int) -> bool:
    """``start`` follows ``scheme://`` with no space, slash or ``@`` in between."""
    i = text.rfind("://", max(0, start - 300), start)
    return i != -1 and not any(ch.isspace() or ch in "/@" for ch in text[i + 3 : start])


_AT = r"(?:[ \t]*[(\[{<][ \t]*at[ \t]*[)\]}>][ \t]*|[ \t]+at[ \t]+)"
_DOT = r"(?:[ \t]*[(\[{<][ \t]*dot[ \t]*[)\]}>][ \t]*|[ \t]+dot[ \t]+|\.)"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
#: "name(at)domain.com", "name [at] domain [dot] org", "first.last at gmail dot com".
_OBFUSCATED_EMAIL = re.compile(
    rf"(?i)(?<![\w.+%-])(?P<local>[A-Za-z0-9_%+-]+(?:\.[A-Za-z0-9_%+-]+)*)(?P<at>{_AT})"
    rf"{_LABEL}(?:{_DOT}{_LABEL})*{_DOT}(?P<tld>[A-Za-z]{{2,24}})(?![\w-])"
)
#: Top-level domains that make a spelled-out "x at y dot com" an address, not a sentence.
_COMMON_TLDS = frozenset([
    "com", "org", "net", "edu", "gov", "mil", "int", "io", "co", "info", "biz", "me", "app", "dev",
    "ai", "us", "uk", "eu"
])  # fmt: skip


def find_obfuscated_emails(text: str) -> Iterator[Span]:
    """Addresses spelled out to dodge scrapers. With brackets ("(at)", "[dot]") the shape says
    enough; with bare words ("tom at gmail dot com") the user part must look like one
    (a dot, digit, underscore or plus in it) and the end must be a real top-level domain, so
    that "look at example dot com" stays a sentence."""
    lowered = text.lower()
    if "at" not in lowered:
        return
    for m in _OBFUSCATED_EMAIL.finditer(text):
        tld = m.group("tld").lower()
        if "@" in m.group():
            continue
        bracketed = any(ch in m.group("at") for ch in "([{<")
        if not bracketed:
            user_like = any(ch in m.group("local") for ch in "._+") or any(
                ch.isdigit() for ch in m.group("local")
            )
            if not user_like or (tld not in _COMMON_TLDS and len(tld) != 2):
                continue
        elif not (tld in _COMMON_TLDS or len(tld) == 2 or "." in m.group()):
            continue
        yield from_match("email", m)


#: The ``(?=...)`` first-character lookaheads here and below change nothing a pattern
#: matches; they let the regex engine skip most positions, doubling the scan speed.
_PHONES = (
    # International: +CC then groups, an optional "(0)" or "(area)"; 8 to 15 digits in all.
    re.compile(r"\+[1-9]\d{0,3}(?:[ .-]?\(\d{1,4}\))?(?:[ .-]?\d{1,5}){1,6}"),
    # North American: (555) 123-4567, 555-123-4567, 555.123.4567, 1-800-555-0199.
    re.compile(r"(?=[(\d])(?:\b1[ .-]?)?(?:\([2-9]\d{2}\)[ .-]?|\b[2-9]\d{2}[ .-])\d{3}[ .-]\d{4}"),
    # National with trunk 0 (UK and alike): 020 7946 0958, 07700 900123, 01632 960123.
    re.compile(r"(?=0)\b0[1-9]\d{1,3}[ -]?\d{3,4}[ -]?\d{3,4}"),
    # National in pairs (France and alike): 01 99 00 12 34.
    re.compile(r"(?=0)\b0[1-9](?:([ .-])\d{2})(?:\1\d{2}){3}"),
)


def find_phones(text: str) -> Iterator[Span]:
    for pattern in _PHONES:
        for m in pattern.finditer(text):
            start, end = m.span()
            digits = sum(ch.isdigit() for ch in m.group())
            international = m.group().startswith("+")
            if not ((8 <= digits <= 15) if international else (10 <= digits <= 11)):
                continue
            if not international and not any(ch in m.group() for ch in " -.()"):
                continue  # an unbroken run of digits is an id far more often than a phone
            if standalone(text, start, end) and not id_word_before(text, start):
                yield span_at("phone", text, start, end)


_CARD = re.compile(r"(?=[2-6])(?<![\w-])[2-6]\d{3}(?:[ -]?\d){9,15}(?![\w-])")


def find_cards(text: str) -> Iterator[Span]:
    """13-19 digits starting with an issuer digit 2-6, one kind of separator in card-shaped
    groups (4-4-4-4, 4-6-5...), passing Luhn, and not all one digit. A match that ran on into
    the next number ("4111 1111 1111 1111 12/26") is retried without its trailing groups."""
    for m in _CARD.finditer(text):
        raw = m.group()
        seps = {ch for ch in raw if ch in " -"}
        if len(seps) > 1:
            continue
        sep = seps.pop() if seps else ""
        groups = raw.split(sep) if sep else [raw]
        for k in range(len(groups), 0, -1):
            candidate = sep.join(groups[:k])
            end = m.start() + len(candidate)
            if _card_shaped(candidate, sep) and standalone(text, m.start(), end):
                if not id_word_before(text, m.start(), NOT_CARD_WORDS):
                    yield span_at("card", text, m.start(), end)
                break


def _card_shaped(raw: str, sep: str) -> bool:
    digits = raw.replace(sep, "") if sep else raw
    if not 13 <= len(digits) <= 19 or len(set(digits)) == 1:
        return False
    if sep:
        groups = raw.split(sep)
        if len(groups[0]) != 4 or any(not 3 <= len(g) <= 6 for g in groups):
            return False
    return luhn_ok(digits)


_IBAN = re.compile(r"(?<![A-Za-z0-9])[A-Z]{2}\d{2}(?:[ -]?[A-Z0-9]){10,30}")


def find_ibans(text: str) -> Iterator[Span]:
    """Country code, check digits, then exactly the country's length of characters (the
    regex may run into a following upper-case word; the length table cuts it off)."""
    for m in _IBAN.finditer(text):
        want = IBAN_LENGTHS.get(m.group()[:2])
        if want is None:
            continue
        count, end = 0, m.start()
        while end < m.end() and count < want:
            count += text[end].isalnum()
            end += 1
        if count != want or (end < len(text) and text[end].isalnum()):
            continue
        compact = text[m.start() : end].replace(" ", "").replace("-", "")
        if iban_ok(compact):
            yield span_at("iban", text, m.start(), end)


_SSN = re.compile(r"\b(\d{3})-(\d{2})-(\d{4})\b")


def find_ssns(text: str) -> Iterator[Span]:
    for m in _SSN.finditer(text):
        if ssn_ok(*m.groups()) and standalone(text, m.start(), m.end()):
            yield from_match("ssn", m)


_IPV4 = re.compile(r"(?=\d)(?<![\w.])\d{1,3}(?:\.\d{1,3}){3}(?!\w|\.\d)")
_IPV6 = re.compile(r"(?<![\w:.])[0-9A-Fa-f:]{2,39}(?:(?:\.\d{1,3}){3})?(?![\w:]|\.\d)")


def find_ips(text: str) -> Iterator[Span]:
    """IPv4 with valid octets (no leading zeros), not after "version"; IPv6 as
    ``ipaddress`` parses it, with at least three groups (or ``fe80::1``-like) so that
    ``a::b`` in C++ and ``[::2]`` slices stay code."""
    for m in _IPV4.finditer(text):
        try:
            ipaddress.IPv4Address(m.group())
        except ValueError:
            continue
        if not id_word_before(text, m.start()):
            yield from_match("ip", m)
    for m in _IPV6.finditer(text) if ":" in text else ():
        if ":" not in m.group():
            continue
        groups = [g for g in m.group().split(":") if g]
        if len(groups) < 3 and not (len(groups) == 2 and len(groups[0]) == 4):
            continue
        try:
            ipaddress.IPv6Address(m.group())
        except ValueError:
            continue
        yield from_match("ip", m)
