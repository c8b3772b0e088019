"""What an evaluation shows: a score per model, task, metric (and group), its 95% interval, the
method, and the catalog's published figure beside it; as a table, JSON, CSV or an HTML file.

Every view is built from the stored run (:mod:`weighbridge.eval.stored`), so what ``eval``
printed when it finished and what ``show`` prints later cannot disagree.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup

from weighbridge.compare.html_report import CSS, page
from weighbridge.config import Settings
from weighbridge.eval.published import Published, published
from weighbridge.eval.scores import Score
from weighbridge.eval.stored import EvalRun, TaskResult


@dataclass(frozen=True)
class Row:
    model: str
    task: str
    #: "" for the whole task.
    group: str
    method: str
    shots: int
    metric: str
    score: Score
    errors: int
    #: The catalog's figures for the whole task's first metric; empty elsewhere.
    published: list[Published]


def rows(run: EvalRun, settings: Settings, *, by_group: bool) -> list[Row]:
    out = []
    for result in run.results:
        for metric in result.metrics:
            for group, score in sorted(result.scores(metric).items()):
                if group and not by_group:
                    continue
                figures = published(settings, result.model, result.task)
                headline = not group and metric == result.metrics[0]
                out.append(
                    Row(
                        result.model, result.task, group, result.method, result.shots, metric, score,
                        result.errors if not group else 0, figures if headline else [],
                    )
                )  # fmt: skip
    return out


def disagreements(table: list[Row]) -> list[str]:
    """One line per published figure beside its measured score, saying whether they disagree."""
    lines = []
    for row in table:
        for figure in row.published:
            low, high = row.score.interval
            verdict = "outside the measured interval" if figure.disagrees(row.score) else "within it"
            lines.append(
                f"{row.model} {row.task}: published {figure.describe()}; measured {row.score.mean:.1%} "
                f"[{low:.1%}-{high:.1%}] ({row.method}, {row.shots}-shot, n={row.score.n}): {verdict}"
            )
    return lines


def print_table(run: EvalRun, settings: Settings, *, by_group: bool) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(show_edge=False)
    columns = (
        "model",
        "task",
        "group",
        "method",
        "shots",
        "metric",
        "n",
        "score",
        "95% interval",
        "published",
    )
    for column in columns:
        table.add_column(
            column, justify="right" if column in ("shots", "n", "score", "published") else "left"
        )
    found = rows(run, settings, by_group=by_group)
    for row in found:
        low, high = row.score.interval
        shown = ", ".join(
            f"{p.fraction:.3f}" + ("!" if p.disagrees(row.score) else "") for p in row.published
        )
        table.add_row(
            row.model, row.task, row.group or "all", row.method, str(row.shots), row.metric,
            str(row.score.n) + (f" ({row.errors} failed)" if row.errors else ""),
            f"{row.score.mean:.3f}", f"{low:.3f}-{high:.3f}", shown,
        )  # fmt: skip
    console = Console()
    if not console.is_terminal:  # a pipe or a file: whole values, not columns cut to fit 80
        console = Console(width=200)
    console.print(table)
    lines = disagreements(found)
    if lines:
        heading = "Published figures (! = outside the measured 95% interval):"
        console.print("\n".join(["", heading, *lines]), soft_wrap=True, markup=False, highlight=False)
    console.print(f"run {run.id} ({run.status}): 'weighbridge show {run.id}' shows it again", highlight=False)


def as_dict(run: EvalRun, settings: Settings) -> dict[str, Any]:
    """Everything: the run, each score (per group too) with its published figures, each item."""
    return {
        "run": run.id,
        "status": run.status,
        "created_at": run.created_at,
        "setup": run.setup,
        "results": [_result_dict(result, settings) for result in run.results],
    }


def _result_dict(result: TaskResult, settings: Settings) -> dict[str, Any]:
    own = rows(_alone(result), settings, by_group=True)
    return {
        "model": result.model,
        "task": result.task,
        "method": result.method,
        "shots": result.shots,
        "errors": result.errors,
        "scores": [
            {
                "group": row.group or "all",
                "metric": row.metric,
                "n": row.score.n,
                "score": row.score.mean,
                "stderr": row.score.stderr,
                "interval": list(row.score.interval),
                "published": [
                    {
                        "name": p.figure.name,
                        "score": p.fraction,
                        "source": p.figure.source,
                        "disagrees": p.disagrees(row.score),
                    }
                    for p in row.published
                ],
            }
            for row in own
        ],
        "items": [
            {
                "id": o.id,
                "group": o.group,
                "values": o.values,
                "record": o.record,
                "cached": o.cached,
                "error": o.error,
            }
            for o in result.outcomes
        ],
    }


def _alone(result: TaskResult) -> EvalRun:
    return EvalRun("", "", "", {}, [result])


CSV_COLUMNS = ["run_id", "model", "task", "method", "item", "group", "metric", "value", "cached", "error"]


def write_csv(path: Path, run: EvalRun) -> None:
    """One row per item and metric (a failed item: one row with its error), for a spreadsheet."""
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(CSV_COLUMNS)
        for result in run.results:
            for o in result.outcomes:
                head = [run.id, result.model, result.task, result.method, o.id, o.group]
                if o.error is not None:
                    writer.writerow([*head, "", "", o.cached, o.error])
                for metric, value in o.values.items():
                    writer.writerow([*head, metric, value, o.cached, ""])


def write_json(path: Path, run: EvalRun, settings: Settings) -> None:
    path.write_text(json.dumps(as_dict(run, settings), indent=2), encoding="utf-8")


_TEMPLATE = (
    page("weighbridge eval {{ run.id }}")
    + """<h1>Evaluation {{ run.id }}</h1>
<p class="meta">{{ run.created_at[:19].replace("T", " ") }} UTC · {{ run.status }} ·
{% for k, v in run.setup.items() if v is not none %}{{ k }}={{ v }}
{%- if not loop.last %}, {% endif %}{% endfor %}</p>
<h2>Scores</h2>
<table>
<thead><tr><th>model</th><th>task</th><th>group</th><th>method</th><th class="num">shots</th>
<th>metric</th><th class="num">n</th><th class="num">score</th><th class="num">95% interval</th>
<th>published</th></tr></thead>
<tbody>{% for r in rows %}
<tr><td>{{ r.model }}</td><td>{{ r.task }}</td><td>{{ r.group or "all" }}</td><td>{{ r.method }}</td>
<td class="num">{{ r.shots }}</td><td>{{ r.metric }}</td>
<td class="num">{{ r.score.n }}{% if r.errors %} ({{ r.errors }} failed){% endif %}</td>
<td class="num">{{ "%.3f"|format(r.score.mean) }}</td>
<td class="num">{{ "%.3f"|format(r.score.interval[0]) }}–{{ "%.3f"|format(r.score.interval[1]) }}</td>
<td>{% for p in r.published %}<span class="badge {{ 'fail' if p.disagrees(r.score) else 'pass' }}">
{{ "%.3f"|format(p.fraction) }}</span> {{ p.describe() }}<br>{% endfor %}</td></tr>{% endfor %}
</tbody></table>
<p class="dim">A red published figure lies outside the measured 95% interval.</p>
{% for result in run.results %}
<h2>{{ result.model }} · {{ result.task }} ({{ result.method }})</h2>
<details><summary>{{ result.outcomes|length }} items</summary>
<table><thead><tr><th>item</th><th>group</th>
{%- for m in result.metrics %}<th class="num">{{ m }}</th>{% endfor %}
<th>answer</th></tr></thead><tbody>{% for o in result.outcomes %}
<tr><td>{{ o.id }}</td><td>{{ o.group }}</td>{% for m in result.metrics %}
<td class="num">{{ o.values.get(m, "") }}</td>{% endfor %}
<td>{% if o.error %}<span class="err">{{ o.error }}</span>
{%- else %}<pre>{{ o.record | tojson }}</pre>{% endif %}</td></tr>
{% endfor %}</tbody></table></details>
{% endfor %}
<p class="dim">Made by weighbridge. This file is self-contained: it loads nothing and runs no script.</p>
</body>
</html>
"""
)


def render_html(run: EvalRun, settings: Settings) -> str:
    """A self-contained page; model output is autoescaped, so it shows as text and never runs."""
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    return env.from_string(_TEMPLATE).render(
        run=run, css=Markup(CSS), rows=rows(run, settings, by_group=True)
    )
