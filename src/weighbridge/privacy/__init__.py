"""The privacy guard: find sensitive data in a request, redact it, restore it in the answer.

We do not depend on Presidio (``presidio-analyzer``). Its ``AnalyzerEngine`` downloads a spaCy
model on first use, which these machines cannot do, and the install pulls in about 390 MB
(spaCy, numpy, phonenumbers); its pattern recognizers run without the model, but the email
one fetches the public-suffix list over the network, the IP one flags ``10.0.0.1`` inside
the version ``10.0.0.1.2``, and none finds API keys. So the detectors here are our own, in
plain ``re``, borrowing its ideas: Luhn for cards, mod-97 with per-country lengths for IBANs,
the SSA ranges for SSNs, ``ipaddress`` to validate IPs.

    guard = Guard(terms={"project": ["Bluebird"]})
    vault = Vault()
    safe = guard.redact("Mail jane@example.com about Bluebird", vault)
    # "Mail [EMAIL_1] about [PROJECT_1]"; later, vault.restore(answer) or vault.restorer()

Everything is pure: no I/O, no global state beyond compiled regexes.
"""

from __future__ import annotations

from weighbridge.privacy.guard import BUILTIN_KINDS, Guard
from weighbridge.privacy.spans import Span
from weighbridge.privacy.vault import StreamRestorer, Vault

__all__ = ["BUILTIN_KINDS", "Guard", "Span", "StreamRestorer", "Vault"]
