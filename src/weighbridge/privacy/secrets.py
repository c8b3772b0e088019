"""Detectors for credentials: known key formats, ``password=...`` assignments, random tokens.

Known formats (OpenAI, Anthropic, AWS, GitHub, Slack, Google, Stripe, PEM private keys, JWTs)
are matched by their prefixes; the values of ``password=``/``api_key:``-style assignments and
the passwords in URLs (``scheme://user:pw@host``) by their context. Anything else that looks
random is a secret when all of these hold, a rule tuned on ``tests/data/privacy/labelled.jsonl``:

* 24 to 256 characters of ``[A-Za-z0-9+/_-]`` (plus ``=`` padding), standing alone;
* lower case, upper case and digits all present, so hex digests, git SHAs and UUIDs (one
  letter case) and CONSTANT_NAMES never qualify;
* Shannon entropy >= 3.7 bits/char (random base62 of 24 characters averages 4.2, and
  falls below 3.7 about one time in a thousand);
* at most 70% of it in word-like runs (``[A-Z]?[a-z]{3,}``), which keeps CamelCase
  identifiers such as ``getUserById2FactorAuthToken`` out;
* it is not base64 of ordinary text (decodes to printable ASCII with a space).

Path prefixes are cut off first, so ``/api/v1/keys/<token>`` yields the token alone. In all,
the rule accepts about 98% of random base62 tokens of 24 characters and 99.7% of 32; hex
secrets are missed on purpose (they cannot be told from digests), as are random ids that are
not secret (a YouTube playlist id is flagged).
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterator

from weighbridge.privacy.checks import entropy
from weighbridge.privacy.spans import Span, from_match, span_at

_B = r"(?<![A-Za-z0-9_-])"  # a key starts a token
_E = r"(?![A-Za-z0-9_-])"  # and ends one

#: One scan for every known format (a single alternation is several times faster than one
#: regex per vendor).
_KNOWN = re.compile(
    _B
    + "(?:"
    + "|".join(
        (
            r"sk-(?:ant-|proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,}",  # OpenAI, Anthropic
            r"(?:AKIA|ASIA)[0-9A-Z]{16}",  # AWS access key id
            r"gh[pousr]_[A-Za-z0-9]{36,255}",  # GitHub classic tokens
            r"github_pat_[A-Za-z0-9_]{22,255}",  # GitHub fine-grained tokens
            r"xox[abprs]-[A-Za-z0-9-]{10,}",  # Slack
            r"AIza[0-9A-Za-z_-]{35}",  # Google API key
            r"[sr]k_(?:live|test)_[0-9A-Za-z]{16,}",  # Stripe secret and restricted keys
            r"eyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{10,}",  # JWT
        )
    )
    + ")"
    + _E
)

#: A PEM private key: the whole block when its END line is there, else the header and the
#: base64 lines that follow it (a key pasted half-way is still a key).
_PEM_BEGIN = re.compile(r"-----BEGIN ((?:[A-Z0-9]+ )*)PRIVATE KEY-----")
_PEM_BODY = re.compile(r"(?:\r?\n[A-Za-z0-9+/=]{8,})*")
_PEM_MAX = 20_000

#: ``password = value``: the keyword ends the name (``max_tokens=`` is no token), and the
#: value is 8 to 256 characters up to a quote, space or delimiter. The lookahead on the first
#: letter makes the scan about three times faster.
_ASSIGNMENT = re.compile(
    r"(?i)(?=[psta])(?:password|passwd|pwd|secret|secret[_-]?key|token|api[_-]?key|apikey|access[_-]?key"
    r"|private[_-]?key)[\"']?[ \t]{0,8}[:=][ \t]{0,8}[\"']?([^\s\"'`,;&)\]}>]{8,256})(?![^\s\"'`,;&)\]}>])"
)
_ASSIGNMENT_HINTS = ("pass", "pwd", "secret", "token", "key")

#: Values that are templating, masks, code or type hints rather than a secret.
_NOT_A_VALUE = re.compile(
    r"[$<{%*]|.*[(\[]|\w+(?:\.\w+)+$|(?i:null|none|true|false|undefined|required|optional|string)$"
)

#: The password of a URL's user info: ``redis://:hunter2@host``, ``postgres://app:pw@db``.
_URL_PASSWORD = re.compile(r"\b[A-Za-z][A-Za-z0-9+.-]{0,20}://[^\s:/@]{0,256}:([^\s/@]{4,256})@")

_TOKEN = re.compile(r"(?<![A-Za-z0-9+/_=-])[A-Za-z0-9+/_-]{24,}={0,2}(?![A-Za-z0-9+/_=-])")
_WORD = re.compile(r"[A-Z]?[a-z]{3,}")
_PATH_HEAD = re.compile(r"/*(?:[a-z0-9._-]*[a-z]{2,}[a-z0-9._-]*/+)*")


def find_secrets(text: str) -> Iterator[Span]:
    for m in _KNOWN.finditer(text):
        if not m.group().startswith("sk-") or _looks_random(m.group()[3:]):
            yield from_match("secret", m)
    if "PRIVATE KEY" in text:
        yield from _pem_keys(text)
    lower = text.lower()
    if any(k in lower for k in _ASSIGNMENT_HINTS):
        for m in _ASSIGNMENT.finditer(text):
            value = m.group(1)
            if not _NOT_A_VALUE.match(value) and len(set(value)) > 2 and re.search(r"[\d\W_]", value):
                yield from_match("secret", m, 1)
    if "://" in text:
        for m in _URL_PASSWORD.finditer(text):
            if not _NOT_A_VALUE.match(m.group(1)):
                yield from_match("secret", m, 1)
    for m in _TOKEN.finditer(text):
        head = _PATH_HEAD.match(m.group())
        start = m.start() + (head.end() if head else 0)
        if is_random_token(text[start : m.end()]):
            yield span_at("secret", text, start, m.end())


def _pem_keys(text: str) -> Iterator[Span]:
    for m in _PEM_BEGIN.finditer(text):
        footer = f"-----END {m.group(1)}PRIVATE KEY-----"
        end = text.find(footer, m.end(), m.end() + _PEM_MAX)
        if end == -1:
            body = _PEM_BODY.match(text, m.end())
            end = body.end() if body else m.end()
        else:
            end += len(footer)
        yield span_at("secret", text, m.start(), end)


def _looks_random(body: str) -> bool:
    """A key body has digits and upper case somewhere; ``sk-learn-compatible-api`` has not."""
    return any(c.isdigit() for c in body) and any(c.isupper() for c in body)


def is_random_token(token: str) -> bool:
    """The high-entropy rule of the module docstring."""
    core = token.rstrip("=")
    if not 24 <= len(core) <= 256:
        return False
    if not (
        any(c.islower() for c in core) and any(c.isupper() for c in core) and any(c.isdigit() for c in core)
    ):
        return False
    if entropy(core) < 3.7:
        return False
    if sum(len(w) for w in _WORD.findall(core)) > 0.7 * len(core):
        return False
    return not _is_base64_prose(token)


def _is_base64_prose(token: str) -> bool:
    """``SGVsbG8gd29ybGQ=`` is "Hello world": encoded, but no secret."""
    core = token.rstrip("=")
    try:
        raw = base64.b64decode(
            core + "=" * (-len(core) % 4),
            altchars=b"-_" if "-" in token or "_" in token else None,
            validate=True,
        )
    except (binascii.Error, ValueError):
        return False
    return b" " in raw and all(32 <= b < 127 or b in (9, 10, 13) for b in raw)
