"""The check types a prompt set may use: how each is scored (by a pure function, by a judge
model, or by pairwise preference) and what a check of the type needs, and the validation of a
check against them. It is apart from the scoring functions so that loading a prompt set
(:mod:`weighbridge.compare.cases`) can refuse a check that could never be made, while the
file's line is still known, without importing the scorers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from weighbridge.compare.cases import Check

Kind = Literal["pure", "judge", "pairwise"]


@dataclass(frozen=True)
class CheckType:
    kind: Kind
    #: What a check of this type needs, checked when the prompt set loads.
    needs: tuple[str, ...] = ()
    #: Compares with a text: the check's value, or else the case's reference.
    with_text: bool = False


TYPES: dict[str, CheckType] = {
    "contains": CheckType("pure", ("text",), with_text=True),
    "icontains": CheckType("pure", ("text",), with_text=True),
    "not-contains": CheckType("pure", ("text",), with_text=True),
    "not-icontains": CheckType("pure", ("text",), with_text=True),
    "regex": CheckType("pure", ("text",), with_text=True),
    "equals": CheckType("pure", ("text",), with_text=True),
    "is-json": CheckType("pure", ("optional-schema",)),
    "json-schema": CheckType("pure", ("schema",)),
    "exact-match": CheckType("pure", with_text=True),
    "normalised-match": CheckType("pure", with_text=True),
    "numeric-match": CheckType("pure", with_text=True),
    "token-f1": CheckType("pure", with_text=True),
    "latency": CheckType("pure", ("threshold",)),
    "cost": CheckType("pure", ("threshold",)),
    "python": CheckType("pure", ("function",)),
    "judge": CheckType("judge", ("text",)),
    "pairwise": CheckType("pairwise"),
}


def compares_with_text(name: str) -> bool:
    """Whether a check of this type compares with a text: its value, or else the case's reference."""
    return TYPES[name].with_text


def known_types() -> set[str]:
    return set(TYPES)


def validate_check(check: Check) -> None:
    """Refuse a check that could never be made, while the file's line is still known."""
    needs = TYPES[check.type].needs
    if "threshold" in needs and check.threshold is None:
        raise ValueError(f"a '{check.type}' check needs a 'threshold'")
    if "text" in needs and check.value is not None and not isinstance(check.value, str | int | float):
        raise ValueError(f"the value of a '{check.type}' check must be text")
    if check.type == "regex" and isinstance(check.value, str):
        try:
            re.compile(check.value)
        except re.error as exc:
            raise ValueError(f"the regex {check.value!r} does not compile: {exc}") from None
    if check.max_tokens is not None and TYPES[check.type].kind == "pure":
        raise ValueError(f"'max_tokens' is the judge's budget; a '{check.type}' check asks no model")
    if check.type == "judge" and not check.value:
        raise ValueError("a 'judge' check needs a rubric as its 'value'")
    if "function" in needs and not re.fullmatch(r".+\.py:[A-Za-z_]\w*", str(check.value or "")):
        raise ValueError("a 'python' check needs 'value: file.py:function'")
    if "schema" in needs or ("optional-schema" in needs and check.value is not None):
        _check_schema(check.value)


def _check_schema(schema: Any) -> None:
    if not isinstance(schema, dict):
        raise ValueError("the schema must be a JSON object")
    from jsonschema import exceptions, validators  # type: ignore[import-untyped]

    try:
        validators.validator_for(schema).check_schema(schema)
    except exceptions.SchemaError as exc:
        raise ValueError(f"not a valid JSON schema: {exc.message}") from None
