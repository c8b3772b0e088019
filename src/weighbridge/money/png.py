"""The crossover chart as a PNG, through matplotlib's Agg backend (no display needed).

matplotlib is imported here, when a PNG is asked for, never by ``import weighbridge``."""

from __future__ import annotations

from pathlib import Path

from weighbridge.errors import InvalidRequestError
from weighbridge.money.chart import Chart


def write(chart: Chart, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    figure = Figure(figsize=(9, 5.5), dpi=110)
    axes = figure.subplots()
    for i, series in enumerate(chart.series):
        xs = [x for x, _ in series.points]
        ys = [y for _, y in series.points]
        axes.plot(
            xs, ys, label=series.label, linewidth=2.5 if i == 0 else 1.6, color="black" if i == 0 else None
        )
    for mark in chart.marks:
        axes.plot([mark.volume], [mark.usd], marker="o", markersize=9, markerfacecolor="none", color="black")
        axes.annotate(mark.short, (mark.volume, mark.usd), textcoords="offset points", xytext=(6, 6))
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_xlim(chart.low, chart.high)
    axes.set_xlabel("tokens per month (log scale)")
    axes.set_ylabel("USD per month (log scale)")
    axes.set_title(chart.title, fontsize=10)
    axes.grid(True, which="major", color="#e5e5e5")
    axes.legend(fontsize=8, loc="upper left")
    figure.tight_layout()
    try:
        figure.savefig(path, format="png")
    except OSError as exc:
        raise InvalidRequestError(f"cannot write {path}: {exc.strerror or exc}") from None
