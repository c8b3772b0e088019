"""Prompt sets: each format loads into the same typed cases; a bad file is one line naming
the file, the line and the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.paths import DATA, EXAMPLES
from weighbridge.compare import promptset
from weighbridge.compare.promptset import PromptSetError
from weighbridge.compare.runner import messages_for

DATA = DATA / "compare"


def test_jsonl_prompts_messages_vars_and_default_reference_check() -> None:
    loaded = promptset.load(DATA / "mixed.jsonl")
    capital, planet, hi = loaded.cases
    assert [c.id for c in loaded.cases] == ["capital", "2", "3"]  # unnamed: their place in the set
    assert capital.messages == [{"role": "user", "content": "What is the capital of France?"}]
    assert [c.type for c in capital.checks] == ["normalised-match"]  # a reference and no checks
    assert planet.messages[0] == {"role": "system", "content": "Answer in one word."}
    assert [c.type for c in planet.checks] == ["icontains"]  # own checks: no default added
    assert hi.system == "Be brief." and [c.type for c in hi.checks] == ["regex", "latency"]


def test_csv_columns_other_than_the_known_ones_are_variables() -> None:
    first, second = promptset.load(DATA / "tickets.csv").cases
    assert first.id == "t1" and first.vars == {"text": "My card was charged twice."}
    assert first.messages[0]["content"].endswith("Ticket: My card was charged twice.")
    assert first.reference == "billing" and first.checks[0].type == "normalised-match"
    assert second.checks[0].type == "icontains" and second.checks[0].value == "shipping"


def test_yaml_prompts_times_tests_with_default_test_merged() -> None:
    loaded = promptset.load(DATA / "suite.yaml")
    assert loaded.models == ["smollm2-135m", "cloud"]  # promptfoo's providers, strings or {id}
    assert loaded.options.max_tokens == 8 and loaded.description == "Two templates, three tests"
    assert [c.id for c in loaded.cases] == ["1@p1", "1@polite", "de@p1", "de@polite", "3@p1", "3@polite"]
    de = loaded.cases[3]
    assert de.messages == [{"role": "user", "content": "Please tell me the capital of Germany."}]
    assert de.system == "You are terse." and de.description == "Germany"
    contains, judge = de.checks
    assert (contains.type, contains.value) == ("icontains", "Berlin")  # defaultTest, rendered
    assert (judge.type, judge.value, judge.model) == (
        "judge",
        "Names Berlin and nothing else.",
        "smollm2-135m",
    )
    assert loaded.cases[4].reference == "Rome"


def test_a_set_system_prompt_is_sent_and_the_command_line_overrides_it() -> None:
    case = promptset.load(DATA / "suite.yaml").cases[0]
    assert messages_for(case, None)[0] == {"role": "system", "content": "You are terse."}
    assert messages_for(case, "Be kind.")[0] == {"role": "system", "content": "Be kind."}
    assert [m["role"] for m in messages_for(case, "Be kind.")] == ["system", "user"]


def test_python_check_paths_are_relative_to_the_prompt_file(tmp_path: Path) -> None:
    (tmp_path / "sets").mkdir()
    path = tmp_path / "sets" / "p.jsonl"
    path.write_text('{"prompt": "x", "assert": [{"type": "python", "value": "checks.py:short"}]}\n')
    [case] = promptset.load(path).cases
    assert case.checks[0].value == f"{(tmp_path / 'sets' / 'checks.py').resolve()}:short"


def test_a_case_may_say_how_its_pictures_are_drawn(tmp_path: Path) -> None:
    suite = tmp_path / "pictures.yaml"
    suite.write_text(
        "prompts: ['a {{thing}}']\ndefaultTest: {steps: 4}\ntests:\n"
        "  - {vars: {thing: fox}, seed: 3, size: 64x32}\n"
        "  - {vars: {thing: owl}, steps: 8, negative_prompt: blurry}\n"
    )
    fox, owl = (case.drawing for case in promptset.load(suite).cases)
    assert fox is not None and fox.given() == {"size": "64x32", "seed": 3, "steps": 4}  # defaultTest's steps
    assert owl is not None and owl.given() == {"steps": 8, "negative_prompt": "blurry"}
    sheet = tmp_path / "pictures.csv"
    sheet.write_text("prompt,seed,n,colour\na {{colour}} bike,5,2,red\n")
    [bike] = promptset.load(sheet).cases  # the options are columns of their own, not variables
    assert bike.vars == {"colour": "red"} and bike.drawing is not None
    assert bike.drawing.given() == {"seed": 5, "n": 2}
    assert promptset.load(DATA / "mixed.jsonl").cases[0].drawing is None


def test_the_shipped_examples_load() -> None:
    sentiment = promptset.load(EXAMPLES / "sentiment.yaml")
    assert len(sentiment.cases) == 20 and sentiment.models == ["smollm2-135m"]
    assert all(c.checks for c in sentiment.cases)
    closed = promptset.load(EXAMPLES / "local-vs-closed.yaml")
    assert closed.models == ["smollm2-135m", "gpt-4o-mini"]
    assert [check.type for check in closed.cases[0].checks] == ["icontains", "token-f1", "latency", "cost"]
    assert closed.cases[0].reference == "Lisbon"


def _error(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(PromptSetError) as caught:
        promptset.load(path)
    message = caught.value.message
    assert "\n" not in message and message.startswith(str(path))
    return message


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("bad.jsonl", '{"prompt": "a"}\n{"prompt": "b",}\n', "bad.jsonl:2: not valid JSON"),
        (
            "bad.jsonl",
            '{"prompt": "a"}\n\n{"promt": "b"}\n',
            "bad.jsonl:3: promt: Extra inputs are not permitted",
        ),
        (
            "bad.jsonl",
            '{"prompt": "a", "assert": [{"type": "contians", "value": "x"}]}\n',
            "bad.jsonl:1: assert[0].type: unknown check type 'contians'",
        ),
        (
            "bad.jsonl",
            '{"prompt": "a", "assert": [{"type": "regex", "value": "("}]}\n',
            "bad.jsonl:1: assert[0]: the regex '(' does not compile",
        ),
        (
            "bad.jsonl",
            '{"prompt": "a", "assert": [{"type": "latency"}]}\n',
            "bad.jsonl:1: assert[0]: a 'latency' check needs a 'threshold'",
        ),
        (
            "bad.jsonl",
            '{"prompt": "a", "assert": [{"type": "equals", "value": "a", "max_tokens": 9}]}\n',
            "bad.jsonl:1: assert[0]: 'max_tokens' is the judge's budget; a 'equals' check asks no model",
        ),
        (
            "bad.jsonl",
            '{"prompt": "a", "assert": [{"type": "contains"}]}\n',
            "bad.jsonl:1: a 'contains' check needs a 'value' (or the test a 'reference')",
        ),
        (
            "bad.jsonl",
            '{"prompt": "Hello {{name}}"}\n',
            "bad.jsonl:1: test 1: template variable missing: 'name' is undefined",
        ),
        (
            "bad.jsonl",
            '{"prompt": "a", "messages": [{"role": "user", "content": "b"}]}\n',
            "bad.jsonl:1: give 'prompt' or 'messages', not both",
        ),
        (
            "bad.jsonl",
            '{"id": "x", "prompt": "a"}\n{"id": "x", "prompt": "b"}\n',
            "bad.jsonl:2: id: 'x' is used already (line 1)",
        ),
        (
            "bad.jsonl",
            '{"prompt": "a", "assert": [{"type": "json-schema", "value": {"type": "nope"}}]}\n',
            "bad.jsonl:1: assert[0]: not a valid JSON schema",
        ),
        (
            "bad.csv",
            'prompt,assert\nhello,"[{""type"": ""icontains"""\n',
            "bad.csv:2: assert: not valid JSON",
        ),
        ("bad.csv", "prompt,reference\nhello,x,extra\n", "bad.csv:2: the row has more cells"),
        (
            "bad.yaml",
            "prompts: ['{{q}}']\ntests:\n  - vars: {q: a}\n  - vars: {q: b}\n    assert:\n      - type: equals\n        valeu: b\n",
            "bad.yaml:7: tests[1].assert[0].valeu: Extra inputs are not permitted",
        ),
        (
            "bad.yaml",
            "prompts: ['{{q}}']\ntests:\n  - vars: {x: a}\n",
            "bad.yaml:3: test 1: template variable missing: 'q'",
        ),
        ("bad.yaml", "prompts: ['a']\ntests:\n  - vars: {q: [a\n", "bad.yaml:4: not valid YAML"),
        ("bad.yaml", "prompts: ['a']\n", "bad.yaml:1: tests: Field required"),
        (
            "bad.yaml",
            "prompts: ['a']\ntests:\n  - seed: seven\n",
            "bad.yaml:3: tests[0].seed: Input should be a valid integer",
        ),
        ("bad.txt", "hello\n", "bad.txt: unknown format"),
        ("empty.jsonl", "\n", "empty.jsonl: the prompt set has no prompts"),
    ],
)
def test_a_bad_file_is_one_line_naming_file_line_and_field(
    tmp_path: Path, name: str, text: str, expected: str
) -> None:
    assert expected in _error(tmp_path, name, text)


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(PromptSetError, match=r"nope\.yaml: no such file"):
        promptset.load(tmp_path / "nope.yaml")


def test_templates_run_sandboxed(tmp_path: Path) -> None:
    message = _error(tmp_path, "evil.jsonl", '{"prompt": "{{ x.__class__.__mro__ }}", "vars": {"x": "a"}}\n')
    assert "unsafe" in message
