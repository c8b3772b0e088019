"""Postal addresses: a house number, a street name and a street type, then what usually
follows on the same line (unit, city, state or region, postcode).

An address is anchored on its street line ("42 Elm Street", "7 Rue de Rivoli", "PO Box 1234"):
a number alone is anything, a city alone is public knowledge, but a number and a named street
point at a door. The span then runs on through the parts that make it deliverable, so that
redaction hides "Springfield, IL 62704" with the street rather than leaving the town and
postcode beside a placeholder. US, UK, Canadian and continental (French, German...) forms.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from weighbridge.privacy.spans import Span, span_at

_STREET_TYPES = (
    r"Street|St|Avenue|Ave|Road|Rd|Lane|Ln|Drive|Dr|Boulevard|Blvd|Court|Ct|Place|Pl|Way|"
    r"Terrace|Ter|Parkway|Pkwy|Highway|Hwy|Square|Sq|Circle|Cir|Crescent|Cres|Close|Row|Mews|"
    r"Grove|Gardens|Hill|Walk|Trail|Trl|Plaza|Alley|Broadway"
)
_DIRECTION = r"(?:N|S|E|W|NE|NW|SE|SW|North|South|East|West)\.?"
_CAP = r"[A-Z][A-Za-z'’.-]*"
#: "42 Elm Street", "1600 Pennsylvania Avenue NW", "500 W Madison St", "221B Baker Street".
_ENGLISH_STREET = (
    rf"\b\d{{1,6}}[A-Za-z]?[ \t]+(?:{_DIRECTION}[ \t]+)?(?:{_CAP}[ \t]+){{0,3}}(?:{_STREET_TYPES})\b\.?"
    rf"(?:[ \t]+{_DIRECTION}(?![\w]))?"
)
#: "7 Rue de Rivoli", "12 Avenue des Champs-Élysées", "Hauptstraße 5" (name first, number after).
_CONTINENTAL_STREET = (
    r"\b\d{1,5}(?:[ \t]?(?:bis|ter))?,?[ \t]+(?:Rue|Avenue|Av\.|Boulevard|Bd|Place|Chemin|Allée|Impasse|Quai|"
    r"Via|Viale|Piazza|Calle|Avenida|Plaza|Rua|Praça)[ \t]+(?:(?:de|du|des|de la|del|della|di|do|da)[ \t]+)?"
    r"[A-ZÀ-Ý][\w'’-]*(?:[ \t]+[A-ZÀ-Ý][\w'’-]*){0,2}"
    r"|\b[A-ZÄÖÜ][\wäöüß-]*(?:straße|strasse|str\.|weg|gasse|platz|allee|ring|damm|ufer)[ \t]+\d{1,5}[a-z]?\b"
)
_PO_BOX = r"\bP\.?[ \t]?O\.?[ \t]+Box[ \t]+\d{1,7}\b"
_STREET = re.compile(rf"(?:{_ENGLISH_STREET}|{_CONTINENTAL_STREET}|{_PO_BOX})")

_UNIT = r"(?:,?[ \t]+(?:Apt|Apartment|Suite|Ste|Unit|Flat|Floor|Fl|#)\.?[ \t]*#?[\w-]{1,6})"
_UK_POSTCODE = r"[A-Z]{1,2}\d[A-Z\d]?[ \t]?\d[A-Z]{2}"
_CA_POSTCODE = r"[A-Z]\d[A-Z][ \t]?\d[A-Z]\d"
_US_STATE_ZIP = r"[A-Z]{2}[ \t]+\d{5}(?:-\d{4})?"
_CITY = rf"{_CAP}(?:[ \t]+{_CAP}){{0,2}}"
#: What follows the street on the line: ", Springfield, IL 62704", ", London NW1 6XE",
#: ", 75001 Paris", ", Toronto, ON M5V 3L9", or just ", Springfield".
_TAIL = re.compile(
    rf"{_UNIT}?(?:,[ \t]*(?:{_CITY},?[ \t]+"
    rf"(?:{_US_STATE_ZIP}|{_UK_POSTCODE}|{_CA_POSTCODE}|[A-Z]{{2}}(?![\w]))"
    rf"|\d{{4,5}}[ \t]+{_CITY}|{_CITY}(?=[ \t]*(?:[.;\n]|$))))?"
)


def find_addresses(text: str) -> Iterator[Span]:
    """Street lines, with the unit, city, region and postcode that follow them."""
    for m in _STREET.finditer(text):
        tail = _TAIL.match(text, m.end())
        end = tail.end() if tail else m.end()
        yield span_at("address", text, m.start(), end)
