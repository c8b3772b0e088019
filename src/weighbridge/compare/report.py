"""The terminal view: each prompt's answers side by side, the summary table, the recommendation.

Model output is arbitrary text, so it always enters rich as :class:`rich.text.Text`, never as
markup: an answer containing ``[bold]`` prints as written.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console, Group
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table
from rich.text import Text

from weighbridge.compare.cases import Case
from weighbridge.compare.recommend import Recommendation
from weighbridge.compare.results import Results, cell_score
from weighbridge.compare.runner import Progress as RunProgress
from weighbridge.compare.stats import Interval, ModelSummary
from weighbridge.money.amounts import format_cost
from weighbridge.store.runs import CellRow

OUTPUT_CHARS = 400


def print_answers(console: Console, results: Results) -> None:
    """One row per prompt, each model's first answer in its own column."""
    table = Table(title="Answers", title_justify="left", show_lines=True, expand=True, header_style="bold")
    table.add_column("prompt", ratio=2, overflow="fold")
    for model in results.models:
        table.add_column(Text(model), ratio=3, overflow="fold")
    for case in results.cases:
        prompt = Text(case.id, style="bold")
        prompt.append("\n" + _flat(_what(case), 200))
        if case.reference is not None:
            prompt.append(f"\nreference: {_flat(str(case.reference), 100)}", style="dim")
        table.add_row(prompt, *(_answer(results, model, case.id) for model in results.models))
    console.print(table)


def _what(case: Case) -> str:
    """What tells prompts apart: the test's description, its variables, else the prompt itself."""
    if case.description:
        return case.description
    if case.vars:
        return " · ".join(f"{k}: {v}" for k, v in case.vars.items())
    return case.prompt_text()


def _answer(results: Results, model: str, prompt_id: str) -> Group | Text:
    cell = results.cell(model, prompt_id)
    if cell is None:
        return Text("(not run)", style="dim")
    if not cell.ok:
        return Text(f"error: {cell.error}", style="red")
    case = results.case(prompt_id)
    score, passed = cell_score(cell, case)
    text = Text(_clip(cell.output or "", OUTPUT_CHARS))
    parts: list[Text] = [text]
    if score is not None or passed is not None:
        mark, style = ("pass", "green") if passed else ("fail", "red")
        line = Text(f"{mark} {score:.2f}" if score is not None else mark, style=style)
        failing = [s for s in cell.scores if not s["passed"]]
        if failing:
            line.append(f"  {failing[0]['check']}: {_flat(failing[0]['reason'], 80)}", style="dim")
        parts.append(line)
    timing = f"{cell.latency_s:.2f} s" if cell.latency_s is not None else ""
    parts.append(
        Text(f"{timing} · {format_cost(cell.cost_usd)}" + (" · cached" if cell.cached else ""), style="dim")
    )
    return Group(*parts)


def summary_table(summaries: list[ModelSummary]) -> Table:
    """Figures as rows and models as columns: it stays readable in 80 columns for a few models."""
    table = Table(title="Summary", title_justify="left", header_style="bold")
    table.add_column("")
    for s in summaries:
        table.add_column(Text(s.model), justify="right", overflow="fold")
    rows: list[tuple[str, list[str]]] = [
        ("score (95% CI)", [_with_ci(s.score, s.score_ci) for s in summaries]),
        ("pass rate", ["-" if s.pass_rate is None else f"{s.pass_rate:.0%}" for s in summaries]),
        ("answers", [f"{s.answers}" + (f" ({s.cached} cached)" if s.cached else "") for s in summaries]),
        (
            "errors",
            [str(s.errors) + (f" (+{s.check_errors} checks)" if s.check_errors else "") for s in summaries],
        ),
        ("latency p50 / p95", [f"{_sec(s.latency_p50)} / {_sec(s.latency_p95)}" for s in summaries]),
        ("first token p50", [_sec(s.ttft_p50) for s in summaries]),
        ("tokens in / out", [f"{s.prompt_tokens:,} / {s.completion_tokens:,}" for s in summaries]),
        ("cost", [format_cost(s.cost_usd) for s in summaries]),
        ("cost per 1k prompts", [format_cost(s.cost_per_1k) for s in summaries]),
    ]
    for name, values in rows:
        table.add_row(name, *values)
    return table


def print_summary(
    console: Console, results: Results, summaries: list[ModelSummary], recommendation: Recommendation
) -> None:
    console.print(summary_table(summaries))
    for model, why in results.run.skipped.items():
        console.print(Text(f"skipped {model}: {why}", style="yellow"))
    for line in recommendation.lines:
        console.print(Text(line))
    cached = sum(s.cached for s in summaries)
    answers = sum(s.answers for s in summaries)
    tail = f" ({cached} of {answers} answers from the cache)" if cached else ""
    console.print(Text(f"run {results.run.id}{tail}: weighbridge show {results.run.id}", style="dim"))


def _with_ci(value: float | None, interval: Interval | None) -> str:
    if value is None:
        return "-"
    if interval is None:
        return f"{value:.2f}"
    return f"{value:.2f} ({interval.low:.2f}-{interval.high:.2f})"


def _sec(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f} s"


def _flat(text: str, width: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def _clip(text: str, limit: int) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


class RichProgress(RunProgress):
    """A progress bar per model with its ETA, on the given console; silent when ``quiet``."""

    def __init__(self, console: Console, quiet: bool) -> None:
        self._console = console
        self._quiet = quiet
        self._bar: Progress | None = None
        self._tasks: dict[str, Any] = {}

    def skipped(self, model: str, why: str) -> None:
        self._console.print(Text(f"skipping {model}: {why}", style="yellow"))

    def started(self, run_id: str, totals: dict[str, int]) -> None:
        if self._quiet:
            return
        self._bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(),
            console=self._console,
            transient=True,
        )
        self._bar.start()
        for model, total in totals.items():
            self._tasks[model] = self._bar.add_task(model, total=total)

    def finished(self, cell: CellRow) -> None:
        if self._bar is not None:
            self._bar.advance(self._tasks[cell.model])
        if cell.error is not None and not self._quiet:
            self._console.print(Text(f"{cell.model} on {cell.prompt_id}: {cell.error}", style="red"))

    def stop(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None
