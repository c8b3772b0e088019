"""The crossover report as one self-contained HTML file: inline CSS and an inline SVG chart,
no script and no link to anything, so it opens offline and can be mailed as it is."""

from __future__ import annotations

from markupsafe import Markup, escape

from weighbridge.money import chart, svg
from weighbridge.money.amounts import format_usd_short
from weighbridge.money.report import Report, tokens, verdict

_STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 980px; color: #222; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { padding: 3px 10px; border-bottom: 1px solid #ddd; text-align: right; }
th:first-child, td:first-child { text-align: left; }
dt { font-weight: 600; } dd { margin: 0 0 .4em 1.5em; color: #444; }
.cheapest { font-weight: 700; }
"""


def render(report: Report) -> str:
    s = report.scenario
    drawn = chart.build(s, report.crossings, [r.volume for r in report.rows])
    picture = svg.render(drawn)
    notes = "".join(f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>" for k, v in report.inputs.notes.items())
    apis = "".join(
        f"<tr><td>{escape(c.api.model)}</td><td>{format_usd_short(c.api_per_mtok)}</td>"
        f"<td>{escape(tokens(c.first)) if c.first is not None else 'never'}</td>"
        f"<td style='text-align:left'>{escape(verdict(c))}</td></tr>"
        for c in report.crossings
    )
    head = "".join(f"<th>{escape(a.model)}</th>" for a in s.apis)
    body = []
    for row in report.rows:
        costs = [row.self_hosted_usd, *row.api_usd]
        best = min(costs)
        cells = "".join(
            f"<td class='{'cheapest' if c == best else ''}'>{format_usd_short(c)}</td>" for c in costs
        )
        body.append(f"<tr><td>{tokens(row.volume)}</td><td>{row.machines}</td>{cells}</tr>")
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{escape(drawn.title)}</title>"
        f"<style>{_STYLE}</style></head><body>"
        f"<h1>Self-hosting {escape(s.local_model)} against APIs</h1>"
        f"<p>One machine: {s.decode_tokens_per_s:,.1f} output tokens/s, {s.prefill_tokens_per_s:,.1f} input "
        f"tokens/s, ${s.usd_per_hour:g}/h, kept {s.utilisation:.0%} busy, so it carries "
        f"{escape(tokens(s.capacity))} tokens/month ({s.input_share:.0%} input) at "
        f"{format_usd_short(s.floor_per_mtok)} per million tokens when full.</p>"
        f"<dl>{notes}</dl>"
        "<h2>Where self-hosting becomes cheaper</h2>"
        "<table><tr><th>API</th><th>USD / M tokens</th><th>crossover</th>"
        "<th style='text-align:left'>verdict</th></tr>"
        f"{apis}</table>"
        f"{picture}"
        "<h2>Cost per month</h2>"
        f"<table><tr><th>tokens / month</th><th>machines</th><th>self-hosted</th>{head}</tr>"
        f"{Markup(''.join(body))}</table>"
        "</body></html>"
    )
