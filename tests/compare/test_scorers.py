"""Each check on fixed answers, near-misses included; the judge's and the pairwise verdict
readers on the shapes small and large models really write."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from weighbridge.compare.cases import Case, Check
from weighbridge.compare.check_types import TYPES
from weighbridge.compare.judge import parse_score
from weighbridge.compare.pairwise import parse_winner
from weighbridge.compare.scorers import PURE, Answer, Score, score_pure


def score(kind: str, text: str, reference: Any = None, **check: Any) -> Score:
    case = Case(id="1", messages=[{"role": "user", "content": "q"}], reference=reference, vars={"v": 1})
    made = Check(type=kind, **check)
    return score_pure(made, Answer(text=text, model="m", latency_s=1.5, cost_usd=0.002), case)


@pytest.mark.parametrize(
    ("kind", "text", "value", "passed"),
    [
        ("contains", "The capital is Paris.", "Paris", True),
        ("contains", "The capital is paris.", "Paris", False),  # case matters
        ("icontains", "The capital is PARIS.", "paris", True),
        ("icontains", "The capital is Pari.", "paris", False),
        ("not-contains", "All good.", "error", True),
        ("not-contains", "An error occurred.", "error", False),
        ("not-icontains", "An ERROR occurred.", "error", False),
        ("not-icontains", "All good.", "error", True),
        ("regex", "Order #12345 shipped", r"#\d{5}\b", True),
        ("regex", "Order #1234 shipped", r"#\d{5}\b", False),
        ("equals", "  Paris\n", "Paris", True),  # surrounding whitespace aside
        ("equals", "Paris.", "Paris", False),
    ],
)
def test_text_checks(kind: str, text: str, value: str, passed: bool) -> None:
    result = score(kind, text, value=value)
    assert result.passed is passed and result.score == float(passed) and result.error is None
    assert result.reason


def test_text_checks_fall_back_on_the_reference() -> None:
    assert score("contains", "It is Paris.", reference="Paris").passed
    assert not score("equals", "It is Paris.", reference="Paris").passed


@pytest.mark.parametrize(
    ("text", "passed", "reason"),
    [
        ('{"a": 1}', True, "valid JSON"),
        ('```json\n{"a": 1}\n```', True, "code fence"),
        ('{"a": 1,}', False, "not JSON"),
        ('Sure! {"a": 1}', False, "not JSON"),
    ],
)
def test_is_json(text: str, passed: bool, reason: str) -> None:
    result = score("is-json", text)
    assert result.passed is passed and reason in result.reason


SCHEMA = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "age": {"type": "integer", "minimum": 0}},
    "required": ["name", "age"],
    "additionalProperties": False,
}


@pytest.mark.parametrize(
    ("text", "passed", "reason"),
    [
        ('{"name": "Ada", "age": 36}', True, "matches the schema"),
        ('{"name": "Ada", "age": -1}', False, "at age: -1 is less than the minimum of 0"),
        ('{"name": "Ada", "age": "36"}', False, "at age: '36' is not of type 'integer'"),
        ('{"name": "Ada"}', False, "'age' is a required property"),
        ('{"name": "Ada", "age": 3, "x": 1}', False, "Additional properties are not allowed"),
        ("name: Ada", False, "not JSON"),
    ],
)
def test_json_schema(text: str, passed: bool, reason: str) -> None:
    result = score("json-schema", text, value=SCHEMA)
    assert result.passed is passed and reason in result.reason


def test_is_json_with_a_schema_checks_it_too() -> None:
    assert not score("is-json", '{"name": "Ada"}', value=SCHEMA).passed


@pytest.mark.parametrize(
    ("kind", "text", "reference", "expected", "extra"),
    [
        ("exact-match", "Paris", "Paris", 1.0, {}),
        ("exact-match", "paris", "Paris", 0.0, {}),
        ("normalised-match", "The Eiffel Tower!", "eiffel tower", 1.0, {}),
        ("normalised-match", "Eiffel Towers", "eiffel tower", 0.0, {}),
        ("numeric-match", "Step 1: 3 x 4 = 12. The answer is 1,200.", 1200, 1.0, {}),
        ("numeric-match", "The answer is 1,201.", "1200", 0.0, {}),
        ("numeric-match", "About 3.14", 3.14159, 1.0, {"tolerance": 0.01}),
        ("numeric-match", "About 3.13", 3.14159, 0.0, {"tolerance": 0.01}),
        ("numeric-match", "No idea.", 4, 0.0, {}),
        ("token-f1", "the cat sat on the mat", "a cat sat on a mat", 1.0, {}),
        ("token-f1", "cat sat", "cat sat on mat", 2 / 3, {}),
        ("token-f1", "dog", "cat sat on mat", 0.0, {}),
    ],
)
def test_reference_matches(
    kind: str, text: str, reference: Any, expected: float, extra: dict[str, Any]
) -> None:
    result = score(kind, text, reference=reference, **extra)
    assert result.score == pytest.approx(expected)
    assert result.passed is (expected >= 0.5)


def test_token_f1_threshold_decides_the_pass() -> None:
    assert not score("token-f1", "cat sat", reference="cat sat on mat", threshold=0.7).passed


def test_numeric_match_with_a_reference_that_is_not_a_number_is_an_error() -> None:
    result = score("numeric-match", "12", reference="twelve")
    assert result.score is None and result.error == "the reference is not a number"


def test_latency_and_cost_thresholds() -> None:
    assert score("latency", "x", threshold=2).passed  # 1.5 s measured
    assert not score("latency", "x", threshold=1).passed
    assert score("cost", "x", threshold=0.01).passed  # $0.002 logged
    slow = score("cost", "x", threshold=0.001)
    assert not slow.passed and "over $0.001" in slow.reason


CHECKS = """
def exact(output, context):
    return output == context["vars"]["want"]

def ratio(output, context):
    return len(output) / 10

def verdict(output, context):
    return {"score": 0.25, "pass": True, "reason": f"{context['model']} said {output}"}

def broken(output, context):
    return 1 / 0

def wrong_type(output, context):
    return "yes"

def too_big(output, context):
    return 3
"""


@pytest.fixture
def checks_file(tmp_path: Path) -> Path:
    path = tmp_path / "checks.py"
    path.write_text(CHECKS)
    return path


def python_score(checks_file: Path, function: str, text: str, **check: Any) -> Score:
    case = Case(id="1", messages=[{"role": "user", "content": "q"}], vars={"want": "yes"})
    made = Check(type="python", value=f"{checks_file}:{function}", **check)
    return score_pure(made, Answer(text=text, model="m"), case)


def test_python_check_returns_bool_float_or_dict(checks_file: Path) -> None:
    assert python_score(checks_file, "exact", "yes").passed
    assert not python_score(checks_file, "exact", "no").passed
    half = python_score(checks_file, "ratio", "12345")
    assert half.score == 0.5 and half.passed  # 0.5 passes at the default threshold
    assert not python_score(checks_file, "ratio", "1234", threshold=0.5).passed
    told = python_score(checks_file, "verdict", "hi")
    assert (told.score, told.passed, told.reason) == (0.25, True, "m said hi")


@pytest.mark.parametrize(
    ("function", "error"),
    [
        ("broken", "broken raised ZeroDivisionError: division by zero (checks.py, line 12)"),
        ("wrong_type", "return a bool, a number or a dict"),
        ("too_big", "a score must be between 0 and 1"),
        ("absent", "checks.py has no function 'absent'"),
    ],
)
def test_python_check_failures_are_errors_not_zeros(checks_file: Path, function: str, error: str) -> None:
    result = python_score(checks_file, function, "x")
    assert result.score is None and not result.passed
    assert error in (result.error or "")


def test_every_registered_check_is_reachable_by_name() -> None:
    pure = {name for name, t in TYPES.items() if t.kind == "pure"}
    assert pure == set(PURE)  # every pure type has its function, and no function is unnamed
    assert pure == {
        "contains", "icontains", "not-contains", "not-icontains", "regex", "equals", "is-json", "json-schema",
        "exact-match", "normalised-match", "numeric-match", "token-f1", "latency", "cost", "python",
    }  # fmt: skip
    assert {TYPES["judge"].kind, TYPES["pairwise"].kind} == {"judge", "pairwise"}


@pytest.mark.parametrize(
    ("verdict", "expected"),
    [
        ("The answer names Paris.\nSCORE: 8", 0.8),
        ("Reasoning... **Score:** 7/10", 0.7),
        ("I give it 3 out of 5.", 0.6),
        ('{"score": 9, "reason": "good"}', 0.9),
        ("10", 1.0),
        ("Score: 4\nOn reflection, SCORE: 6", 0.6),  # the last grade counts
        ("SCORE: 11", None),  # off the scale: unreadable, not clipped
        ("The answer is good and correct.", None),
        ("", None),
    ],
)
def test_judge_scores_are_read_robustly(verdict: str, expected: float | None) -> None:
    found = parse_score(verdict)
    assert found == (pytest.approx(expected) if expected is not None else None)


@pytest.mark.parametrize(
    ("verdict", "expected"),
    [
        ("Answer A is more complete.\nWINNER: A", "A"),
        ("winner: b", "B"),
        ("**Winner:** TIE", "TIE"),
        ("[[B]]", "B"),
        ("[[C]]", "TIE"),
        ("Assistant A is better because it is concise.", "A"),
        ("B.", "B"),
        ("Both answers are fine.", None),
    ],
)
def test_pairwise_winners_are_read_robustly(verdict: str, expected: str | None) -> None:
    assert parse_winner(verdict) == expected
