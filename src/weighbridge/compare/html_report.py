"""The HTML report: one self-contained file, readable offline and safe to open.

Everything is inline (CSS and the SVG charts of :mod:`weighbridge.compare.charts`); the file
loads nothing from anywhere and runs no script, so it can be mailed, attached to a CI run or
opened air-gapped. Model output is untrusted text: the template autoescapes everything, so an
answer containing ``<script>`` shows as text and never runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup

from weighbridge.compare import charts
from weighbridge.compare.recommend import Recommendation
from weighbridge.compare.results import Results, cell_score
from weighbridge.compare.stats import ModelSummary
from weighbridge.money.amounts import format_cost

CSS = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 24px auto;
       max-width: 1280px; padding: 0 16px; color: #1d2430; background: #fff; }
h1 { font-size: 22px; margin: 0 0 4px; } h2 { font-size: 17px; margin: 28px 0 8px; }
.meta, .dim { color: #5b6575; } .skipped { color: #9a5b00; }
table { border-collapse: collapse; width: 100%; }
th, td { border-bottom: 1px solid #e3e7ee; padding: 6px 8px; text-align: left; vertical-align: top; }
th { background: #f4f6f9; font-weight: 600; } td.num, th.num { text-align: right; white-space: nowrap; }
.rec { background: #f2f8f3; border-left: 4px solid #2ca02c; padding: 8px 14px; }
.rec p { margin: 4px 0; } .caution { color: #9a5b00; }
.charts { display: flex; flex-wrap: wrap; gap: 16px; }
.chart { border: 1px solid #e3e7ee; background: #fff; max-width: 100%; height: auto; }
.chart .plot { fill: #fbfcfd; } .chart .grid { stroke: #e3e7ee; stroke-width: 1; }
.chart .tick { font-size: 10px; fill: #5b6575; } .chart .axis { font-size: 11px; fill: #1d2430; }
.chart .label { font-size: 11px; fill: #1d2430; } .chart .ci { stroke-width: 3; opacity: .45; }
.chart .front { fill: none; stroke: #8a94a6; stroke-dasharray: 4 3; stroke-width: 1.5; }
.chart .point { stroke: #fff; stroke-width: 1.5; } .chart .empty { fill: #5b6575; font-size: 12px; }
.prompt { margin: 22px 0; border: 1px solid #e3e7ee; border-radius: 6px; overflow: hidden; }
.prompt > header { background: #f4f6f9; padding: 8px 12px; }
.prompt pre, .answer pre { white-space: pre-wrap; word-wrap: break-word; margin: 4px 0;
       font: 13px/1.4 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
.answers { display: grid; gap: 0; }
.answer { padding: 8px 12px; border-left: 1px solid #e3e7ee; min-width: 0; }
.answer:first-child { border-left: none; } .answer h3 { font-size: 13px; margin: 0 0 4px; }
.badge { display: inline-block; border-radius: 3px; padding: 0 5px; margin: 2px 4px 2px 0; font-size: 12px; }
.pass { background: #dff2e1; color: #1b5e20; } .fail { background: #fbe3e3; color: #8e1c1c; }
.error { background: #fff1d6; color: #7a4a00; } .err { color: #8e1c1c; }
details { margin-top: 4px; } summary { cursor: pointer; color: #5b6575; font-size: 12px; }
"""


def page(title: str) -> str:
    """The head every self-contained report opens with (compare's, image compare's, eval's):
    ``title`` is a Jinja expression, the styles come in as ``css``; the body follows."""
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{title}</title>\n<style>{{{{ css }}}}</style>\n</head>\n<body>\n"
    )


_TITLE = "weighbridge compare {{ run.id }}"
_TEMPLATE = (
    page(_TITLE)
    + """<h1>{{ run.description or "Compare run " ~ run.id }}</h1>
<p class="meta">run {{ run.id }} · {{ run.source }} · {{ run.created_at[:19].replace("T", " ") }} UTC ·
{{ run.status }} · {{ cases|length }} prompts{% if run.samples > 1 %} × {{ run.samples }} samples{% endif %}
{% if params %} · {% for k, v in params.items() %}{{ k }}={{ v }}
{%- if not loop.last %}, {% endif %}{% endfor %}{% endif %}</p>
{% for model, why in run.skipped.items() %}<p class="skipped">skipped {{ model }}: {{ why }}</p>{% endfor %}

<h2>Recommendation</h2>
<div class="rec">{% for line in recommendation.lines %}
<p{% if line.startswith("Caution") %} class="caution"{% endif %}>{{ line }}</p>{% endfor %}
</div>

<h2>Summary</h2>
<table class="summary">
<thead><tr><th>model</th><th class="num">score</th><th class="num">95% CI</th><th class="num">pass</th>
<th class="num">errors</th><th class="num">latency p50</th><th class="num">p95</th>
<th class="num">ttft p50</th>
<th class="num">tokens in/out</th><th class="num">cost</th><th class="num">per 1k prompts</th></tr></thead>
<tbody>{% for s in summaries %}
<tr><td><span class="badge" style="background: {{ colors[s.model] }}; color: #fff">&nbsp;</span>
{{- s.model }}</td>
<td class="num">{{ fmt(s.score) }}</td>
<td class="num">{% if s.score_ci %}{{ fmt(s.score_ci.low) }} – {{ fmt(s.score_ci.high) }}
{%- else %}-{% endif %}</td>
<td class="num">{% if s.pass_rate is not none %}{{ "%.0f%%"|format(s.pass_rate * 100) }}
{%- else %}-{% endif %}</td>
<td class="num">{{ s.errors }}
{%- if s.check_errors %} (+{{ s.check_errors }} checks){% endif %}</td>
<td class="num">{{ sec(s.latency_p50) }}</td><td class="num">{{ sec(s.latency_p95) }}</td>
<td class="num">{{ sec(s.ttft_p50) }}</td>
<td class="num">{{ "{:,}".format(s.prompt_tokens) }}/{{ "{:,}".format(s.completion_tokens) }}</td>
<td class="num">{{ usd(s.cost_usd) }}</td><td class="num">{{ usd(s.cost_per_1k) }}</td></tr>{% endfor %}
</tbody></table>

<h2>Quality against cost and latency</h2>
<div class="charts">{{ cost_chart }}{{ latency_chart }}</div>
<p class="dim">Each point is a model's mean score with its 95% interval; the dashed line joins the models
that no other model beats on both axes.</p>

<h2>Answers</h2>
{% for row in rows %}
<section class="prompt" id="prompt-{{ row.case.id }}">
<header><strong>{{ row.case.id }}</strong>
{%- if row.case.description %} · {{ row.case.description }}{% endif %}
<pre>{{ row.case.prompt_text() }}</pre>
{% if row.case.reference is not none %}
<div class="dim">reference: {{ row.case.reference }}</div>{% endif %}
</header>
<div class="answers" style="grid-template-columns: repeat({{ row.answers|length }}, minmax(0, 1fr))">
{% for a in row.answers %}<div class="answer">
<h3>{{ a.model }}{% if a.cell and a.cell.cached %} <span class="dim">(cached)</span>{% endif %}</h3>
{% if a.cell is none %}<p class="dim">not run</p>
{% elif a.cell.error %}<p class="err">error: {{ a.cell.error }}</p>
{% else %}<pre>{{ a.cell.output }}</pre>
{% if a.score is not none %}<div>score {{ fmt(a.score) }}</div>{% endif %}
{% for s in a.cell.scores %}
<span class="badge {{ 'error' if s.error else ('pass' if s.passed else 'fail') }}"
 title="{{ s.reason }}">{{ s.check }}{% if s.score is not none %} {{ fmt(s.score) }}{% endif %}</span>
{%- endfor %}
<div class="dim">{{ sec(a.cell.latency_s) }} · first token {{ sec(a.cell.ttft_s) }} ·
{{ a.cell.prompt_tokens }}/{{ a.cell.completion_tokens }} tokens · {{ usd(a.cell.cost_usd) }}</div>
{% for s in a.cell.scores if not s.passed %}<div class="dim">{{ s.check }}: {{ s.reason }}</div>{% endfor %}
{% for j in a.cell.judgements %}<details><summary>judge {{ j.model }} ({{ j.type }}
{%- if j.first %}: {{ j.first }} first{% endif %}){% if j.error %}: {{ j.error }}{% endif %}</summary>
{% for m in j.messages %}<pre><strong>{{ m.role }}:</strong> {{ m.content }}</pre>{% endfor %}
<pre><strong>verdict:</strong> {{ j.verdict }}</pre></details>{% endfor %}
{% endif %}</div>{% endfor %}
</div>
</section>
{% endfor %}
<p class="dim">Made by weighbridge. This file is self-contained: it loads nothing and runs no script.</p>
</body>
</html>
"""
)


def render(results: Results, summaries: list[ModelSummary], recommendation: Recommendation) -> str:
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    colors = {model: charts.color(i) for i, model in enumerate(results.models)}
    rows = []
    for case in results.cases:
        answers: list[dict[str, Any]] = []
        for model in results.models:
            cell = results.cell(model, case.id)
            score = cell_score(cell, case)[0] if cell is not None else None
            answers.append({"model": model, "cell": cell, "score": score})
        rows.append({"case": case, "answers": answers})
    scored = [s for s in summaries if s.score is not None]
    cost_points = [_point(s, s.cost_per_1k, colors) for s in scored if s.cost_per_1k is not None]
    latency_points = [_point(s, s.latency_p50, colors) for s in scored if s.latency_p50 is not None]
    params = {k: v for k, v in results.run.params.items() if k != "system"}
    return env.from_string(_TEMPLATE).render(
        run=results.run,
        cases=results.cases,
        params=params,
        summaries=summaries,
        recommendation=recommendation,
        rows=rows,
        colors=colors,
        css=Markup(CSS),
        cost_chart=charts.scatter(
            cost_points,
            x_label="cost per 1,000 prompts (USD)",
            y_label="score",
            x_format="$",
            title="Score against cost",
        ),
        latency_chart=charts.scatter(
            latency_points,
            x_label="median latency (s)",
            y_label="score",
            x_format="s",
            title="Score against latency",
        ),
        fmt=lambda v: "-" if v is None else f"{v:.2f}",
        sec=lambda v: "-" if v is None else f"{v:.2f} s",
        usd=format_cost,
    )


def _point(s: ModelSummary, x: float | None, colors: dict[str, str]) -> charts.Point:
    assert x is not None and s.score is not None
    ci = s.score_ci
    return charts.Point(s.model, x, s.score, ci.low if ci else None, ci.high if ci else None, colors[s.model])


def write(path: Path, html: str) -> None:
    path.write_text(html, encoding="utf-8")
