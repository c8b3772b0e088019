"""Checks on one answer, each a pure function from (check, answer, case) to a :class:`Score`.

Every check gives a score in [0, 1], a pass/fail and a reason a person can read; :data:`PURE`
maps each pure check type to its function. ``judge`` and ``pairwise`` ask a model, so they are
run by :mod:`weighbridge.compare.judge` and :mod:`weighbridge.compare.pairwise`, which the
runner calls with a client.

A score of ``None`` with an ``error`` means the check could not be made (a judge that
answered nothing parseable, a user function that raised): it is reported as an error and
left out of the mean, never counted as a zero.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from weighbridge.compare import matching, userfunc
from weighbridge.compare.cases import Case, Check


@dataclass(frozen=True)
class Answer:
    """What a check looks at: one cell's text and measurements."""

    text: str
    model: str
    latency_s: float | None = None
    ttft_s: float | None = None
    cost_usd: float | None = None


class Score(BaseModel):
    """One check's verdict on one answer."""

    check: str
    type: str
    score: float | None
    passed: bool
    reason: str
    error: str | None = None
    weight: float = 1.0


PureScorer = Callable[[Check, Answer, Case], Score]


def _result(check: Check, score: float, passed: bool, reason: str) -> Score:
    return Score(
        check=check.label, type=check.type, score=score, passed=passed, reason=reason, weight=check.weight
    )


def failed(check: Check, error: str) -> Score:
    """A check that could not be made: reported, and left out of the mean."""
    return Score(
        check=check.label,
        type=check.type,
        score=None,
        passed=False,
        reason=error,
        error=error,
        weight=check.weight,
    )


def _binary(check: Check, ok: bool, yes: str, no: str) -> Score:
    return _result(check, float(ok), ok, yes if ok else no)


def _target(check: Check, case: Case) -> str:
    """The text a check compares with: its value, else the case's reference."""
    value = check.value if check.value is not None else case.reference
    return "" if value is None else str(value)


# -- text ---------------------------------------------------------------------------------


def contains(check: Check, answer: Answer, case: Case) -> Score:
    want = _target(check, case)
    return _binary(check, want in answer.text, f"contains {want!r}", f"does not contain {want!r}")


def icontains(check: Check, answer: Answer, case: Case) -> Score:
    want = _target(check, case)
    ok = want.casefold() in answer.text.casefold()
    return _binary(check, ok, f"contains {want!r} (any case)", f"does not contain {want!r} in any case")


def not_contains(check: Check, answer: Answer, case: Case) -> Score:
    bad = _target(check, case)
    return _binary(check, bad not in answer.text, f"does not contain {bad!r}", f"contains {bad!r}")


def not_icontains(check: Check, answer: Answer, case: Case) -> Score:
    bad = _target(check, case)
    ok = bad.casefold() not in answer.text.casefold()
    return _binary(check, ok, f"does not contain {bad!r} in any case", f"contains {bad!r} (any case)")


def regex(check: Check, answer: Answer, case: Case) -> Score:
    pattern = _target(check, case)
    found = re.search(pattern, answer.text)
    if found:
        return _result(check, 1.0, True, f"/{pattern}/ matches {found.group(0)!r}")
    return _result(check, 0.0, False, f"/{pattern}/ matches nothing in {matching.excerpt(answer.text)}")


def equals(check: Check, answer: Answer, case: Case) -> Score:
    """Exact equality, surrounding whitespace aside (a trailing newline is not an answer)."""
    want = _target(check, case).strip()
    got = answer.text.strip()
    return _binary(check, got == want, f"equals {want!r}", f"{matching.excerpt(got)} is not {want!r}")


# -- JSON ---------------------------------------------------------------------------------


def is_json(check: Check, answer: Answer, case: Case) -> Score:
    value, problem = matching.parse_json(answer.text)
    if problem is not None:
        return _result(check, 0.0, False, f"not JSON: {problem}")
    where = " (in a code fence)" if matching.fenced(answer.text) else ""
    if check.value is not None:
        invalid = _schema_problem(value, check.value)
        if invalid:
            return _result(check, 0.0, False, f"JSON{where}, but {invalid}")
    return _result(check, 1.0, True, f"valid JSON{where}")


def json_schema(check: Check, answer: Answer, case: Case) -> Score:
    value, problem = matching.parse_json(answer.text)
    if problem is not None:
        return _result(check, 0.0, False, f"not JSON: {problem}")
    invalid = _schema_problem(value, check.value)
    if invalid:
        return _result(check, 0.0, False, invalid)
    return _result(check, 1.0, True, "matches the schema")


def _schema_problem(value: Any, schema: Any) -> str | None:
    from jsonschema import validators  # type: ignore[import-untyped]

    validator = validators.validator_for(schema)(schema)
    error = next(iter(sorted(validator.iter_errors(value), key=lambda e: list(e.path))), None)
    if error is None:
        return None
    where = "/".join(str(p) for p in error.absolute_path) or "the top level"
    return f"at {where}: {error.message}"


# -- references ---------------------------------------------------------------------------


def exact_match(check: Check, answer: Answer, case: Case) -> Score:
    want = _target(check, case)
    ok = answer.text.strip() == want.strip()
    return _binary(
        check, ok, f"is the reference {want!r}", f"{matching.excerpt(answer.text)} is not {want!r}"
    )


def normalised_match(check: Check, answer: Answer, case: Case) -> Score:
    want = _target(check, case)
    got, norm = matching.normalise(answer.text), matching.normalise(want)
    ok = got == norm
    return _binary(check, ok, f"matches {want!r} once normalised", f"{got!r} is not {norm!r} once normalised")


def numeric_match(check: Check, answer: Answer, case: Case) -> Score:
    """The last number in the answer (where worked answers put the result) against the reference."""
    want = matching.as_number(check.value if check.value is not None else case.reference)
    if want is None:
        return failed(check, "the reference is not a number")
    found = matching.numbers(answer.text)
    if not found:
        return _result(check, 0.0, False, f"no number in {matching.excerpt(answer.text)}")
    got = found[-1]
    tolerance = check.tolerance or 0.0
    ok = abs(got - want) <= tolerance + 1e-9 * max(abs(want), 1.0)
    within = f" within {tolerance:g}" if tolerance else ""
    return _binary(check, ok, f"{got:g} equals {want:g}{within}", f"{got:g} is not {want:g}{within}")


def token_f1(check: Check, answer: Answer, case: Case) -> Score:
    want = _target(check, case)
    f1 = matching.token_f1(answer.text, want)
    threshold = check.threshold if check.threshold is not None else 0.5
    return _result(check, f1, f1 >= threshold, f"token F1 {f1:.2f} against {want!r} (pass at {threshold:g})")


# -- measurements and user code -----------------------------------------------------------


def latency(check: Check, answer: Answer, case: Case) -> Score:
    assert check.threshold is not None  # guaranteed by validate_check
    if answer.latency_s is None:
        return failed(check, "no latency was measured")
    ok = answer.latency_s <= check.threshold
    verb = "within" if ok else "over"
    return _binary(
        check,
        ok,
        f"{answer.latency_s:.2f} s, {verb} {check.threshold:g} s",
        f"{answer.latency_s:.2f} s, {verb} {check.threshold:g} s",
    )


def cost(check: Check, answer: Answer, case: Case) -> Score:
    assert check.threshold is not None
    if answer.cost_usd is None:
        return failed(check, "this model has no price, so no cost to check")
    ok = answer.cost_usd <= check.threshold
    verb = "within" if ok else "over"
    text = f"${answer.cost_usd:.6g}, {verb} ${check.threshold:g}"
    return _binary(check, ok, text, text)


def python(check: Check, answer: Answer, case: Case) -> Score:
    context = {
        "vars": case.vars,
        "reference": case.reference,
        "prompt": case.prompt_text(),
        "messages": case.messages,
        "model": answer.model,
        "latency_s": answer.latency_s,
        "cost_usd": answer.cost_usd,
    }
    try:
        value, passed, reason = userfunc.call(str(check.value), answer.text, context)
    except userfunc.UserFunctionError as exc:
        return failed(check, str(exc))
    threshold = check.threshold if check.threshold is not None else 0.5
    return _result(check, value, passed if passed is not None else value >= threshold, reason)


#: The function behind each pure check type (the types themselves are listed, with what each
#: needs, in :mod:`weighbridge.compare.check_types`).
PURE: dict[str, PureScorer] = {
    "contains": contains,
    "icontains": icontains,
    "not-contains": not_contains,
    "not-icontains": not_icontains,
    "regex": regex,
    "equals": equals,
    "is-json": is_json,
    "json-schema": json_schema,
    "exact-match": exact_match,
    "normalised-match": normalised_match,
    "numeric-match": numeric_match,
    "token-f1": token_f1,
    "latency": latency,
    "cost": cost,
    "python": python,
}


def score_pure(check: Check, answer: Answer, case: Case) -> Score:
    """Run one pure check; a check that raises is an error, never a crash of the run."""
    fn = PURE[check.type]
    try:
        return fn(check, answer, case)
    except Exception as exc:  # a scorer bug must not lose the run's other results
        return failed(check, f"{type(exc).__name__}: {exc}")
