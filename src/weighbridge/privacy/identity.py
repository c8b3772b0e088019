"""Detectors for who a text is about: person names, medical record numbers, dates of birth.

None of these has a shape of its own: "Laura Bennett" is two capitalised words like "Main
Street", 9021377 is a number like an order id, 02/14/1971 a date like an invoice's. What
marks them is the context a form, a letter or a clinical note puts them in: a label
("Patient:", "MRN", "DOB"), a salutation ("Dear"), a title ("Dr."), a sign-off ("Best
regards," then a line holding only a name). So each detector looks for its cue and takes the
value right after it; a name or number with no cue passes unnoticed (bench/privacy.py
measures how often that happens on a held-out set, and why no NER model is used instead).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from weighbridge.privacy.spans import Span, from_match

#: One word of a name: "Okafor", "O'Neill", "Al-Farsi", "Anna-Lena"; a middle initial "J.".
_WORD = r"(?:[A-Z][a-z]*['’][A-Z][a-z]+|[A-Z][a-z]+(?:-[A-Z][a-z]+)*|[A-Z]\.)"
_PARTICLE = r"(?:(?:van|von|der|de|da|del|di|la|le|al|bin|ibn)\s+)"
#: One to four words, particles allowed between them ("Ludwig van Beethoven").
_NAME = rf"(?P<name>{_WORD}(?:[ \t]+{_PARTICLE}?{_WORD}){{0,3}})"
_TITLE = r"(?:(?:Dr|Mr|Mrs|Ms|Miss|Mx|Prof|Sr|Sra|Herr|Frau|Mme|Mlle)\.?[ \t]+)"

#: Capitalised words that follow a cue without being a name ("Dear Team,", "Regards, The
#: Support Team", "Name: Required").
_NOT_NAMES = frozenset([
    "a", "all", "an", "and", "any", "anyone", "colleague", "colleagues", "customer", "customers",
    "dear", "everybody", "everyone", "folks", "friend", "friends", "guys", "hiring", "i", "madam",
    "manager", "members", "my", "no", "none", "not", "our", "partner", "partners", "sir", "sirs",
    "staff", "team", "the", "there", "this", "unknown", "user", "users", "valued", "we", "world",
    "you", "your", "required", "optional", "n/a", "tbd", "support", "sales", "admin",
    "administrator", "office", "department", "service", "services", "desk", "corporation", "corp",
    "inc", "ltd", "llc", "gmbh", "company", "co", "group", "foundation", "university", "hospital",
    "clinic", "bank"
])  # fmt: skip

_FORM_LABELS = (
    r"patient(?:'s)?(?:[ \t]+(?:full[ \t]+)?name)?|pt|full[ \t]+name|name|customer(?:[ \t]+name)?|"
    r"client(?:[ \t]+name)?|employee(?:[ \t]+name)?|member(?:[ \t]+name)?|insured|subscriber|"
    r"guardian|next[ \t]+of[ \t]+kin|emergency[ \t]+contact|referred[ \t]+by|referring[ \t]+physician|"
    r"attending(?:[ \t]+physician)?|physician|doctor|nurse|signed(?:[ \t]+by)?|prepared[ \t]+by|"
    r"applicant|beneficiary|account[ \t]+holder|cardholder|recipient|sender"
)
#: "Patient: Maria Gonzalez", "Referred by: Dr. Elena Petrova", "Signed, Margaret Chen".
_LABELLED = re.compile(rf"(?m)(?<![\w-])(?i:{_FORM_LABELS})[ \t]*[:,][ \t]*{_TITLE}?{_NAME}")
#: "Dear Dr. Hannah Whitfield,", "Hi Jonathan," — the salutation ends with a comma, a colon,
#: an exclamation mark or the line.
_SALUTATION = re.compile(
    rf"(?m)\b(?:Dear|Hi|Hello|Hey|Attn:?|Attention:?)[ \t]+{_TITLE}?{_NAME}[ \t]*(?=[,:!]|$)"
)
#: "Mr. Kenji Watanabe", "Dr. Wei Zhang" anywhere.
_TITLED = re.compile(rf"\b(?:Dr|Mr|Mrs|Ms|Miss|Mx|Prof)\.?[ \t]+{_NAME}")
#: A sign-off, then a line that holds a name and nothing else but a title or credentials.
_SIGN_OFF = re.compile(
    r"(?m)^[ \t]*(?i:best(?:[ \t]+(?:regards|wishes))?|kind[ \t]+regards|warm[ \t]+regards|regards|"
    r"many[ \t]+thanks|thanks|thank[ \t]+you|cheers|sincerely|yours(?:[ \t]+(?:sincerely|truly|faithfully))?|"
    r"all[ \t]+the[ \t]+best|respectfully|with[ \t]+thanks)[ \t]*[,!.]?[ \t]*\n"
    rf"[ \t]*{_TITLE}?{_NAME}[ \t]*(?:,[^\n]{{0,40}}|\([^\n)]{{0,20}}\))?[ \t]*$",
)


def find_people(text: str) -> Iterator[Span]:
    """Names that a label, a salutation, a title or a sign-off points at."""
    for pattern in (_LABELLED, _SALUTATION, _TITLED, _SIGN_OFF):
        for m in pattern.finditer(text):
            words = m.group("name").split()
            if any(w.lower() in _NOT_NAMES for w in words) or all(len(w) <= 2 for w in words):
                continue  # "Dear Team", "Regards, Acme Corporation"; initials alone say nothing
            yield from_match("person", m, "name")


#: "MRN 00482913", "MRN#55821904", "Med. Rec. No.: A-1120934", "MR No. 88213007",
#: "medical record number 0049-221-873". A bare "record #" counts only beside a word that makes
#: it medical (patient, chart, hospital...) on the same line.
_MRN = re.compile(
    r"(?i)\b(?:MRN|MR[ \t]*(?:No\.?|#|Num(?:ber)?)|"
    r"Med(?:ical|\.)?[ \t]*Rec(?:ord|\.)?[ \t]*(?:No\.?|#|Num(?:ber)?)?|"
    r"(?P<bare>Record))[ \t]*(?:No\.?|#|Num(?:ber)?)?[ \t]*[:#.]?[ \t]*"
    r"(?P<id>(?:[A-Z]{1,3}-?)?\d(?:[\d-]{3,14})\d)(?![\w-])"
)
_MEDICAL_WORDS = re.compile(r"(?i)\b(?:medical|patient|chart|hospital|clinic|health|admission|admitted)")


def find_record_numbers(text: str) -> Iterator[Span]:
    """Medical record numbers after their label (the number alone is any other id)."""
    for m in _MRN.finditer(text):
        if m.group("bare"):
            line_start = text.rfind("\n", 0, m.start()) + 1
            line_end = text.find("\n", m.end())
            if not _MEDICAL_WORDS.search(text, line_start, line_end if line_end != -1 else len(text)):
                continue
        yield from_match("mrn", m, "id")


_MONTH = (
    r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|"
    r"Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)\.?"
)
_DATE = (
    r"(?:\d{4}-\d{1,2}-\d{1,2}|\d{1,2}[/.-]\d{1,2}[/.-](?:\d{4}|\d{2})|"
    rf"{_MONTH}[ \t]+\d{{1,2}}(?:st|nd|rd|th)?,?[ \t]+\d{{4}}|"
    rf"\d{{1,2}}(?:st|nd|rd|th)?[ \t]+(?:of[ \t]+)?{_MONTH},?[ \t]+\d{{4}})"
)
#: "DOB: 1962-07-30", "date of birth 09/23/1958", "born on 14 February 1988", "Born: 21.06.1969".
_DOB = re.compile(
    r"(?i)\b(?:D\.?O\.?B\b\.?|date[ \t]+of[ \t]+birth|birth[ \t]*date|birthday|born(?:[ \t]+on)?)"
    rf"[ \t]*[:\-]?[ \t]*(?P<date>{_DATE})(?![\w/.-]\d)"
)


def find_birth_dates(text: str) -> Iterator[Span]:
    """Dates that a birth label introduces; any other date is left alone."""
    for m in _DOB.finditer(text):
        yield from_match("dob", m, "date")
