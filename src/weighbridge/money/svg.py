"""A crossover chart as inline SVG: log axes both ways, drawn here so the HTML file needs no
script, font or network. Volumes and costs both span orders of magnitude, and on log axes an
API's straight cost line stays straight while each self-hosting step shows as a jump."""

from __future__ import annotations

import math

from markupsafe import Markup, escape

from weighbridge.money.chart import Chart

WIDTH, HEIGHT = 760, 440
LEFT, RIGHT, TOP, BOTTOM = 76, 20, 36, 118
PALETTE = ["#222222", "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"]


def _tick_label(value: float, money: bool) -> str:
    for size, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "k")):
        if value >= size:
            text = f"{value / size:g}{suffix}"
            break
    else:
        text = f"{value:g}"
    return f"${text}" if money else text


def render(chart: Chart) -> Markup:
    """The chart, one ``<svg>`` element."""
    ys = [y for s in chart.series for _, y in s.points if y > 0]
    y_low = 10 ** math.floor(math.log10(min(ys))) if ys else 1.0
    y_high = max(10 ** math.ceil(math.log10(max(ys))) if ys else 10.0, y_low * 10)
    x_low, x_high = chart.low, chart.high
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def to_x(v: float) -> float:
        return LEFT + (math.log10(v) - math.log10(x_low)) / (math.log10(x_high) - math.log10(x_low)) * plot_w

    def to_y(v: float) -> float:
        v = max(v, y_low)
        return (
            TOP
            + (1 - (math.log10(v) - math.log10(y_low)) / (math.log10(y_high) - math.log10(y_low))) * plot_h
        )

    parts = [
        f'<svg class="chart" role="img" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" '
        f'aria-label="{escape(chart.title)}">'
        f"<title>{escape(chart.title)}</title>",
        f'<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" fill="#fff" stroke="#999"/>',
    ]
    for k in range(round(math.log10(x_low)), round(math.log10(x_high)) + 1):
        x = to_x(10.0**k)
        parts.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{TOP}" y2="{TOP + plot_h}" stroke="#eee"/>')
        parts.append(
            f'<text x="{x:.1f}" y="{TOP + plot_h + 16}" text-anchor="middle" font-size="11">'
            f"{_tick_label(10.0**k, False)}</text>"
        )
    for k in range(round(math.log10(y_low)), round(math.log10(y_high)) + 1):
        y = to_y(10.0**k)
        parts.append(f'<line x1="{LEFT}" x2="{LEFT + plot_w}" y1="{y:.1f}" y2="{y:.1f}" stroke="#eee"/>')
        parts.append(
            f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11">'
            f"{_tick_label(10.0**k, True)}</text>"
        )
    parts.append(
        f'<text x="{LEFT + plot_w / 2}" y="{TOP + plot_h + 36}" text-anchor="middle" font-size="12">'
        "tokens per month (log scale)</text>"
        f'<text x="16" y="{TOP + plot_h / 2}" text-anchor="middle" font-size="12" '
        f'transform="rotate(-90 16 {TOP + plot_h / 2})">USD per month (log scale)</text>'
    )
    for i, series in enumerate(chart.series):
        color = PALETTE[i % len(PALETTE)]
        path = " ".join(f"{to_x(x):.1f},{to_y(y):.1f}" for x, y in series.points if x > 0 and y > 0)
        width = 2.5 if i == 0 else 1.8
        parts.append(f'<polyline fill="none" stroke="{color}" stroke-width="{width}" points="{path}"/>')
        ly = TOP + plot_h + 56 + 16 * (i // 2)
        lx = LEFT + (i % 2) * plot_w / 2
        parts.append(
            f'<line x1="{lx}" x2="{lx + 22}" y1="{ly - 4}" y2="{ly - 4}" '
            f'stroke="{color}" stroke-width="{width}"/>'
            f'<text x="{lx + 28}" y="{ly}" font-size="11">{escape(series.label)}</text>'
        )
    for mark in chart.marks:
        x, y = to_x(mark.volume), to_y(mark.usd)
        parts.append(
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="5" fill="none" stroke="#000" stroke-width="1.5">'
            f"<title>{escape(mark.label)}: {mark.short} tokens/month</title></circle>"
            f'<text x="{x + 7:.1f}" y="{y - 7:.1f}" font-size="10">{mark.short}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))
