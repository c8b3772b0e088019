"""Prompt sets from files: JSONL, CSV or YAML, into typed cases.

* JSONL: one object per line, with ``prompt`` (a template) or ``messages``, and optionally
  ``id``, ``vars``, ``reference``, ``assert`` (a list of checks), ``system``, ``description``.
* CSV: the same columns, ``messages``, ``vars`` and ``assert`` as JSON text; any other column
  is a variable (so a sheet with ``text`` and ``label`` columns needs no JSON at all).
* YAML, in promptfoo's shape: ``prompts`` (templates), ``tests`` (each with ``vars``,
  ``assert``, optional ``reference``), ``defaultTest`` merged into every test, ``models`` (or
  promptfoo's ``providers``), and optional ``description``, ``task`` (what the set measures),
  ``system``, ``options``. Each prompt is asked with each test.

For image models a test may also say its own ``size``, ``seed``, ``steps``,
``negative_prompt`` and ``n`` (:class:`~weighbridge.compare.cases.Drawing`; a YAML
``defaultTest`` too): in CSV they are columns, not variables.

A case with a reference and no checks is scored by normalised match against it. Every
problem is one :class:`PromptSetError` line naming the file, the line and the field.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from weighbridge.compare.cases import Case, Check, Drawing, Options, PromptSet
from weighbridge.compare.templates import TemplateError, render, render_any
from weighbridge.errors import InvalidRequestError
from weighbridge.types import Message

#: Check types whose ``value`` is data, not text: never rendered as a template.
_LITERAL_VALUES = {"json-schema", "is-json", "python"}
_CSV_JSON_COLUMNS = ("messages", "vars", "assert")
_CSV_COLUMNS = {
    "id", "prompt", "messages", "vars", "reference", "assert", "system", "description", *Drawing.model_fields
}  # fmt: skip


class PromptSetError(InvalidRequestError):
    """A prompt file that cannot be used as written: ``path:line: field: problem``."""

    def __init__(self, path: Path, line: int | None, where: str, problem: str) -> None:
        place = f"{path}:{line}" if line is not None else str(path)
        super().__init__(f"{place}: {where + ': ' if where else ''}{problem}")
        self.path, self.line, self.where = path, line, where


class _Test(Drawing):
    """A JSONL line, a CSV row or a YAML test, before its templates are rendered."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    id: str | None = None
    description: str | None = None
    prompt: str | None = None
    messages: list[Message] | None = Field(default=None, min_length=1)
    vars: dict[str, Any] = Field(default_factory=dict)
    reference: Any = None
    checks: list[Check] = Field(default_factory=list, alias="assert")
    system: str | None = None

    @field_validator("id", mode="before")
    @classmethod
    def _id_as_text(cls, value: object) -> object:
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value

    @model_validator(mode="after")
    def _one_prompt(self) -> _Test:
        if self.prompt is not None and self.messages is not None:
            raise ValueError("give 'prompt' or 'messages', not both")
        return self


class _Prompt(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str | None = None
    prompt: str | None = None
    messages: list[Message] | None = Field(default=None, min_length=1)

    @model_validator(mode="after")
    def _one_prompt(self) -> _Prompt:
        if (self.prompt is None) == (self.messages is None):
            raise ValueError("a prompt needs exactly one of 'prompt' or 'messages'")
        return self


class _DefaultTest(Drawing):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    vars: dict[str, Any] = Field(default_factory=dict)
    reference: Any = None
    checks: list[Check] = Field(default_factory=list, alias="assert")
    system: str | None = None


class _Suite(BaseModel):
    """A YAML prompt set, promptfoo-shaped."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    description: str | None = None
    task: str | None = Field(default=None, min_length=1)
    metadata: dict[str, Any] = Field(default_factory=dict)
    system: str | None = None
    options: Options = Field(default_factory=Options)
    prompts: list[_Prompt] = Field(default_factory=list)
    models: list[str] = Field(default_factory=list)
    providers: list[str] = Field(default_factory=list)
    default_test: _DefaultTest = Field(default_factory=_DefaultTest, alias="defaultTest")
    tests: list[_Test] = Field(min_length=1)

    @field_validator("prompts", mode="before")
    @classmethod
    def _text_prompts(cls, value: object) -> object:
        if isinstance(value, list):
            return [{"prompt": p} if isinstance(p, str) else p for p in value]
        return value

    @field_validator("models", "providers", mode="before")
    @classmethod
    def _model_ids(cls, value: object) -> object:
        """promptfoo writes a provider as a string or as ``{id: ...}``."""
        if isinstance(value, list):
            return [
                m["id"] if isinstance(m, dict) and set(m) <= {"id", "label"} and "id" in m else m
                for m in value
            ]
        return value


def load(path: str | Path) -> PromptSet:
    """The prompt set in ``path``, its format told by the extension."""
    path = Path(path)
    try:
        text = path.read_text("utf-8-sig")  # a spreadsheet's CSV may start with a BOM
    except FileNotFoundError:
        raise PromptSetError(path, None, "", "no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise PromptSetError(path, None, "", f"cannot read it: {exc}") from None
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        return _build(path, list(_jsonl(path, text)))
    if suffix == ".csv":
        return _build(path, list(_csv(path, text)))
    if suffix in (".yaml", ".yml"):
        return _yaml(path, text)
    raise PromptSetError(path, None, "", "unknown format: name the file .jsonl, .csv, .yaml or .yml")


# -- formats ------------------------------------------------------------------------------


def _jsonl(path: Path, text: str) -> Iterator[tuple[int, _Test]]:
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError as exc:
            raise PromptSetError(
                path, number, "", f"not valid JSON: {exc.msg} (column {exc.colno})"
            ) from None
        if not isinstance(data, dict):
            raise PromptSetError(path, number, "", "each line must be a JSON object")
        yield number, _validate_test(path, number, data)


def _csv(path: Path, text: str) -> Iterator[tuple[int, _Test]]:
    reader = csv.DictReader(text.splitlines(keepends=True))
    if not reader.fieldnames:
        raise PromptSetError(path, 1, "", "the file has no header row")
    for row in reader:
        number = reader.line_num
        if None in row:
            raise PromptSetError(path, number, "", "the row has more cells than the header has columns")
        data: dict[str, Any] = {}
        variables: dict[str, Any] = {}
        for column, cell in row.items():
            if cell is None or cell == "":
                continue
            if column in _CSV_JSON_COLUMNS:
                try:
                    data[column] = json.loads(cell)
                except json.JSONDecodeError as exc:
                    raise PromptSetError(path, number, column, f"not valid JSON: {exc.msg}") from None
            elif column in _CSV_COLUMNS:
                data[column] = cell
            else:
                variables[column] = cell
        if variables:
            if not isinstance(data.get("vars", {}), dict):
                raise PromptSetError(path, number, "vars", "must be a JSON object")
            data["vars"] = {**variables, **data.get("vars", {})}
        yield number, _validate_test(path, number, data)


def _yaml(path: Path, text: str) -> PromptSet:
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc)
        raise PromptSetError(path, line, "", f"not valid YAML: {problem}") from None
    if not isinstance(data, dict):
        raise PromptSetError(path, 1, "", "expected a mapping with 'prompts' and 'tests'")
    try:
        suite = _Suite.model_validate(data)
    except ValidationError as exc:
        loc = exc.errors()[0]["loc"]
        raise PromptSetError(path, _node_line(root, loc), _where(loc), _problem(exc)) from None
    if suite.models and suite.providers:
        raise PromptSetError(
            path, _node_line(root, ("providers",)), "providers", "give 'models' or 'providers'"
        )
    tests = [(_node_line(root, ("tests", i)) or 1, test) for i, test in enumerate(suite.tests)]
    return _build(path, tests, suite.prompts, suite)


# -- from raw tests to cases ------------------------------------------------------------


def _build(
    path: Path,
    tests: list[tuple[int, _Test]],
    prompts: list[_Prompt] | None = None,
    suite: _Suite | None = None,
) -> PromptSet:
    """Cases from raw tests (with their lines), asked with the set's prompts if it has any."""
    if not tests:
        raise PromptSetError(path, None, "", "the prompt set has no prompts")
    prompts = prompts or []
    default = suite.default_test if suite is not None else _DefaultTest()
    system = suite.system if suite is not None else None
    cases: list[Case] = []
    seen: dict[str, int] = {}
    for index, (line, test) in enumerate(tests):
        test_id = test.id or str(index + 1)
        variants = _variants(path, line, test, prompts)
        for prompt_id, template in variants:
            case_id = test_id if prompt_id is None else f"{test_id}@{prompt_id}"
            if case_id in seen:
                raise PromptSetError(path, line, "id", f"'{case_id}' is used already (line {seen[case_id]})")
            seen[case_id] = line
            try:
                case = _case(path, case_id, test, template, default, system)
            except TemplateError as exc:
                raise PromptSetError(path, line, f"test {test_id}", str(exc)) from None
            except ValidationError as exc:
                raise PromptSetError(path, line, _where(exc.errors()[0]["loc"]), _problem(exc)) from None
            cases.append(case)
    if suite is None:
        return PromptSet(source=str(path), cases=cases)
    return PromptSet(
        source=str(path),
        description=suite.description,
        task=suite.task,
        models=list(dict.fromkeys([*suite.models, *suite.providers])),
        system=suite.system,
        options=suite.options,
        cases=cases,
    )


def _variants(path: Path, line: int, test: _Test, prompts: list[_Prompt]) -> list[tuple[str | None, _Prompt]]:
    """The prompts a test is asked with: its own, or each of the set's templates."""
    own = test.prompt is not None or test.messages is not None
    if own and prompts:
        raise PromptSetError(path, line, "prompt", "the set has 'prompts' already; a test gives only vars")
    if own:
        return [(None, _Prompt(prompt=test.prompt, messages=test.messages))]
    if not prompts:
        raise PromptSetError(path, line, "", "no 'prompt' or 'messages' (and the set has no 'prompts')")
    if len(prompts) == 1:
        return [(None, prompts[0])]
    return [(p.id or f"p{i + 1}", p) for i, p in enumerate(prompts)]


def _case(
    path: Path, case_id: str, test: _Test, prompt: _Prompt, default: _DefaultTest, system: str | None
) -> Case:
    variables = {**default.vars, **test.vars}
    if prompt.prompt is not None:
        messages = [{"role": "user", "content": render(prompt.prompt, variables)}]
    else:
        assert prompt.messages is not None
        messages = [render_any(m.model_dump(exclude_none=True), variables) for m in prompt.messages]
    case_system = test.system or default.system or system
    reference = test.reference if test.reference is not None else default.reference
    checks = [_rendered(path, c, variables) for c in [*default.checks, *test.checks]]
    reference = render_any(reference, variables)
    if not checks and reference is not None:
        checks = [Check(type="normalised-match")]
    drawn = {**default.given(), **test.given()}
    return Case(
        id=case_id,
        messages=messages,
        system=render(case_system, variables) if case_system else None,
        vars=variables,
        reference=reference,
        checks=checks,
        description=test.description,
        drawing=Drawing(**drawn) if drawn else None,
    )


def _rendered(path: Path, check: Check, variables: dict[str, Any]) -> Check:
    data = check.model_dump(exclude_none=True)
    if check.type not in _LITERAL_VALUES:
        data["value"] = render_any(check.value, variables)
    if check.type == "python":
        file, _, function = str(check.value).rpartition(":")
        data["value"] = f"{(path.parent / file).resolve()}:{function}"
    return Check.model_validate(data)


# -- error locations ----------------------------------------------------------------------


def _validate_test(path: Path, line: int, data: dict[str, Any]) -> _Test:
    try:
        return _Test.model_validate(data)
    except ValidationError as exc:
        raise PromptSetError(path, line, _where(exc.errors()[0]["loc"]), _problem(exc)) from None


_TYPE_TAGS = {"str", "int", "float", "bool", "dict", "list", "none", "_Prompt", "_Test", "Message", "Check"}


def _where(loc: tuple[int | str, ...]) -> str:
    """A pydantic location as a person writes it: ``tests[2].assert[0].type``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part not in _TYPE_TAGS and "[" not in part:
            out += ("." if out else "") + ("defaultTest" if part == "default_test" else part)
    return out


def _problem(exc: ValidationError) -> str:
    message = str(exc.errors()[0]["msg"])
    return message.removeprefix("Value error, ")


def _node_line(root: yaml.Node | None, loc: tuple[int | str, ...]) -> int | None:
    """The line of the YAML node at ``loc`` (or of the deepest node on the way there)."""
    if root is None:
        return None
    node: yaml.Node = root
    line = node.start_mark.line + 1
    for part in loc:
        key = "defaultTest" if part == "default_test" else part
        child: yaml.Node | None = None
        if isinstance(node, yaml.MappingNode):
            child = next((v for k, v in node.value if getattr(k, "value", None) == key), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
            child = node.value[key]
        if child is None:
            if isinstance(key, str) and isinstance(node, yaml.MappingNode):
                continue  # a type tag in pydantic's location, not a key in the file
            break
        node = child
        line = node.start_mark.line + 1
    return line
