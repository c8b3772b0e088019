"""The views of an image run: each prompt's pictures side by side, and the summary per model.

The HTML report embeds every picture as a ``data:`` URL read from the pictures folder by its
sha256 (:class:`~weighbridge.store.pictures.Pictures`), so it stays one self-contained file
that loads nothing; a picture no longer on disk is named by its sha256 instead. Times and
costs are per picture: a cell's call made ``n`` of them (the run's, or the prompt's own). A
prompt drawn with options of its own shows them beside it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jinja2
from markupsafe import Markup
from rich.console import Console
from rich.table import Table
from rich.text import Text

from weighbridge.compare.cases import Case
from weighbridge.compare.html_report import CSS, page
from weighbridge.compare.image_scores import CLIP, data_url
from weighbridge.compare.images import Made, read
from weighbridge.compare.recommend import Recommendation
from weighbridge.compare.results import Results, cell_score
from weighbridge.compare.stats import Interval, ModelSummary, bootstrap_mean, percentile
from weighbridge.money.amounts import format_cost
from weighbridge.store.pictures import Pictures
from weighbridge.store.runs import CellRow


@dataclass(frozen=True)
class Figures:
    """A model's figures per picture, and the mean of each check over its prompts."""

    summary: ModelSummary
    latency_p50: float | None
    cost: float | None
    checks: dict[str, tuple[float, Interval]]


def figures(results: Results, summaries: list[ModelSummary]) -> list[Figures]:
    """Per picture from each cell's own count, since prompts may ask for different numbers."""
    rows = []
    for s in summaries:
        made = [c for c in results.cells if c.model == s.model and c.ok]
        latencies = [per_picture(c, c.latency_s) for c in made]
        pictures = sum(len(Made.of(c).pictures) for c in made)
        priced = s.cost_per_1k is not None and pictures > 0  # the summary's rule: every answer priced
        rows.append(
            Figures(
                summary=s,
                latency_p50=percentile([v for v in latencies if v is not None], 50),
                cost=sum(c.cost_usd or 0.0 for c in made) / pictures if priced else None,
                checks=check_means(results, s.model),
            )
        )
    return rows


def check_scores(results: Results, model: str) -> dict[str, dict[str, float]]:
    """Each check's score per prompt for ``model``, a prompt's samples averaged as the score's
    are: what two models are paired on, check by check."""
    values: dict[str, dict[str, list[float]]] = {}
    for cell in results.cells:
        if cell.model == model:
            for s in cell.scores:
                if s["score"] is not None:
                    values.setdefault(s["check"], {}).setdefault(cell.prompt_id, []).append(s["score"])
    return {
        check: {prompt: sum(v) / len(v) for prompt, v in by_prompt.items()}
        for check, by_prompt in values.items()
    }


def check_means(results: Results, model: str) -> dict[str, tuple[float, Interval]]:
    """Each check's mean over the prompts with its bootstrap interval."""
    means = {}
    for check, by_prompt in check_scores(results, model).items():
        per_prompt = list(by_prompt.values())
        means[check] = (sum(per_prompt) / len(per_prompt), bootstrap_mean(per_prompt))
    return means


def own_options(results: Results, case: Case) -> str:
    """The case's own options where they differ from the run's (``size=48x32 · seed=3``): why its
    pictures are not drawn like the others'; empty for a case drawn as the run is."""
    if case.drawing is None:
        return ""
    run = results.run.params
    return " · ".join(f"{k}={v}" for k, v in case.drawing.given().items() if run.get(k) != v)


def shown(check: str, value: float) -> str:
    """A check's value as people read it: CLIP on its own 0-100 scale, the rest as fractions."""
    return f"{value * 100:.1f}" if check == CLIP else f"{value:.2f}"


def per_picture(cell: CellRow, value: float | None) -> float | None:
    count = len(Made.of(cell).pictures) if cell.ok else 0
    return value / count if value is not None and count else value


# -- terminal -------------------------------------------------------------------------------


def print_pictures(console: Console, results: Results) -> None:
    """One row per prompt; each model's pictures named by sha256, with their figures."""
    table = Table(title="Pictures", title_justify="left", show_lines=True, expand=True, header_style="bold")
    table.add_column("prompt", ratio=2, overflow="fold")
    for model in results.models:
        table.add_column(Text(model), ratio=3, overflow="fold")
    for case in results.cases:
        cells = [results.cell(model, case.id) for model in results.models]
        prompt = Text(f"{case.id}\n{case.prompt_text()}")
        own = own_options(results, case)
        if own:
            prompt.append(f"\n{own}", style="dim")
        table.add_row(prompt, *(_cell_text(c) for c in cells))
    console.print(table)


def _cell_text(cell: CellRow | None) -> Text:
    if cell is None:
        return Text("(not run)", style="dim")
    if not cell.ok:
        return Text(f"error: {cell.error}", style="red")
    made = Made.of(cell)
    text = Text("\n".join(p["sha256"][:16] for p in made.pictures))
    text.append(f"\n{made.size or '?'} · seed {made.seed}", style="dim")
    text.append(
        f"\n{_sec(per_picture(cell, cell.latency_s))} · {format_cost(per_picture(cell, cell.cost_usd))}"
    )
    text.append(" per picture" + (" · cached" if cell.cached else ""), style="dim")
    for s in cell.scores:
        value = "error" if s["score"] is None else shown(s["check"], s["score"])
        text.append(f"\n{s['check']} {value}", style="red" if s["error"] else "")
    return text


def print_summary(
    console: Console, results: Results, summaries: list[ModelSummary], recommendation: Recommendation
) -> None:
    table = Table(title="Summary", title_justify="left", header_style="bold")
    table.add_column("")
    rows = figures(results, summaries)
    for f in rows:
        table.add_column(Text(f.summary.model), justify="right", overflow="fold")
    table.add_row("score (95% CI)", *(_with_ci(f.summary.score, f.summary.score_ci) for f in rows))
    for check in dict.fromkeys(c for f in rows for c in f.checks):
        table.add_row(check, *(_check(f, check) for f in rows))
    table.add_row("errors", *(str(f.summary.errors) for f in rows))
    table.add_row("latency p50 / picture", *(_sec(f.latency_p50) for f in rows))
    table.add_row("cost / picture", *(format_cost(f.cost) for f in rows))
    console.print(table)
    for model, why in results.run.skipped.items():
        console.print(Text(f"skipped {model}: {why}", style="yellow"))
    for line in recommendation.lines:
        console.print(Text(line))
    console.print(Text(f"run {results.run.id}: weighbridge show {results.run.id}", style="dim"))


def _check(f: Figures, check: str) -> str:
    if check not in f.checks:
        return "-"
    mean, ci = f.checks[check]
    return f"{shown(check, mean)} ({shown(check, ci.low)}-{shown(check, ci.high)})"


def _with_ci(value: float | None, interval: Interval | None) -> str:
    if value is None:
        return "-"
    return f"{value:.2f}" + (f" ({interval.low:.2f}-{interval.high:.2f})" if interval else "")


def _sec(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f} s"


# -- HTML -----------------------------------------------------------------------------------

_CSS = """
.pictures img { width: 100%; max-width: 320px; height: auto; image-rendering: pixelated;
       border: 1px solid #e3e7ee; display: block; margin: 4px 0; }
"""

_TITLE = "weighbridge compare {{ run.id }}"
_TEMPLATE = (
    page(_TITLE)
    + """<h1>{{ run.description or "Compare run " ~ run.id }}</h1>
<p class="meta">run {{ run.id }} · {{ run.source }} · {{ run.created_at[:19].replace("T", " ") }} UTC ·
{{ run.status }} · {{ cases|length }} prompts · image models
{%- for k, v in run.params.items() if k != "modality" %} · {{ k }}={{ v }}{% endfor %}</p>
{% for model, why in run.skipped.items() %}<p class="skipped">skipped {{ model }}: {{ why }}</p>{% endfor %}

<h2>Recommendation</h2>
<div class="rec">{% for line in recommendation.lines %}<p>{{ line }}</p>{% endfor %}</div>

<h2>Summary</h2>
<table class="summary">
<thead><tr><th>model</th><th class="num">score</th><th class="num">95% CI</th>
{% for check in checks %}<th class="num">{{ check }}</th>{% endfor %}
<th class="num">errors</th><th class="num">latency p50 / picture</th>
<th class="num">cost / picture</th></tr></thead>
<tbody>{% for f in rows %}
<tr><td>{{ f.summary.model }}</td><td class="num">{{ fmt(f.summary.score) }}</td>
<td class="num">{% if f.summary.score_ci %}{{ fmt(f.summary.score_ci.low) }} –
{{ fmt(f.summary.score_ci.high) }}
{%- else %}-{% endif %}</td>
{% for check in checks %}<td class="num">{% if check in f.checks %}{{ shown(check, f.checks[check][0]) }}
({{ shown(check, f.checks[check][1].low) }} – {{ shown(check, f.checks[check][1].high) }})
{%- else %}-{% endif %}</td>
{% endfor %}<td class="num">{{ f.summary.errors }}</td><td class="num">{{ sec(f.latency_p50) }}</td>
<td class="num">{{ usd(f.cost) }}</td></tr>{% endfor %}
</tbody></table>

<h2>Pictures</h2>
{% for row in prompts %}
<section class="prompt" id="prompt-{{ row.case.id }}">
<header><strong>{{ row.case.id }}</strong>
{%- if row.case.description %} · {{ row.case.description }}{% endif %}
<pre>{{ row.case.prompt_text() }}</pre>
{%- if row.own %}<div class="dim">{{ row.own }}</div>{% endif %}</header>
<div class="answers pictures" style="grid-template-columns: repeat({{ row.cells|length }}, minmax(0, 1fr))">
{% for a in row.cells %}<div class="answer">
<h3>{{ a.model }}{% if a.cell and a.cell.cached %} <span class="dim">(cached)</span>{% endif %}</h3>
{% if a.cell is none %}<p class="dim">not run</p>
{% elif a.cell.error %}<p class="err">error: {{ a.cell.error }}</p>
{% else %}{% for p in a.pictures %}
{% if p.url %}<img src="{{ p.url }}" alt="{{ a.model }}, picture {{ loop.index }}"
 title="sha256 {{ p.sha256 }}">
{% else %}<p class="dim">picture sha256 {{ p.sha256 }} is no longer on disk</p>{% endif %}{% endfor %}
<div class="dim">{{ a.made.size or "?" }} · seed {{ a.made.seed }} · {{ sec(a.latency) }} · {{ usd(a.cost) }}
per picture</div>
{% if a.score is not none %}<div>score {{ fmt(a.score) }}</div>{% endif %}
{% for s in a.cell.scores %}<span class="badge {{ 'error' if s.error else ('pass' if s.passed else 'fail') }}"
 title="{{ s.reason }}">{{ s.check }}
{%- if s.score is not none %} {{ shown(s.check, s.score) }}{% endif %}</span>
{%- endfor %}
{% for j in a.cell.judgements %}<details><summary>judge {{ j.model }}
{%- if j.get("error") %}: {{ j.error }}{% endif %}
</summary><pre><strong>verdict:</strong> {{ j.verdict }}</pre></details>{% endfor %}
{% endif %}</div>{% endfor %}
</div>
</section>
{% endfor %}
<p class="dim">Made by weighbridge. This file is self-contained: it loads nothing and runs no script.</p>
</body>
</html>
"""
)


def render(
    results: Results, summaries: list[ModelSummary], recommendation: Recommendation, pictures: Pictures
) -> str:
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    rows = figures(results, summaries)
    prompts = []
    for case in results.cases:
        cells: list[dict[str, Any]] = []
        for model in results.models:
            cell = results.cell(model, case.id)
            shown_cell: dict[str, Any] = {"model": model, "cell": cell}
            if cell is not None and cell.ok:
                shown_cell.update(_embedded(cell, pictures), score=cell_score(cell, case)[0])
            cells.append(shown_cell)
        prompts.append({"case": case, "cells": cells, "own": own_options(results, case)})
    return env.from_string(_TEMPLATE).render(
        run=results.run,
        cases=results.cases,
        recommendation=recommendation,
        rows=rows,
        checks=list(dict.fromkeys(c for f in rows for c in f.checks)),
        prompts=prompts,
        css=Markup(CSS + _CSS),
        shown=shown,
        fmt=lambda v: "-" if v is None else f"{v:.2f}",
        sec=_sec,
        usd=format_cost,
    )


def _embedded(cell: CellRow, pictures: Pictures) -> dict[str, Any]:
    made = Made.of(cell)
    images = read(pictures, cell) or []
    urls = [data_url(image) for image in images] if images else [None] * len(made.pictures)
    return {
        "made": made,
        "pictures": [{"sha256": p["sha256"], "url": url} for p, url in zip(made.pictures, urls, strict=True)],
        "latency": per_picture(cell, cell.latency_s),
        "cost": per_picture(cell, cell.cost_usd),
    }
