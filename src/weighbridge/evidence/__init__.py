"""Evidence: what every compare run, eval run and arena vote says of each model, per task and per
weights, beside the speed and price the log measured; what a route chooses a model on.

    answers.py   every scored answer of the stored runs, compare and eval, as one record
    arena.py     the votes as ratings per (task, model, weights)
    log.py       latency and cost per (model, weights); the weights each model answered with last
    table.py     the rows: items counted once, the quality estimate and its interval, current or stale
    rows.py      the row's types, and the row as JSON
    drift.py     drift findings: the eras that end a model's evidence
    figures.py   a row's figures as text, the same for the command and the page
    page.py      the page's Evidence tab
    choose.py    an auto route's choice among its targets on a task's rows
    advisor.py   the evidence kept in memory for the planner, and the task classifier
    simulate.py  ``weighbridge route simulate``: auto's choices replayed on held-out evidence
    simulate_views.py  a simulation as JSON and as a chart

Everything is read from the store, so ``weighbridge evidence`` and the library agree, and a
row's per-item values (``Row.quality.items``) let two models be compared item by item.
"""

from __future__ import annotations

from weighbridge.evidence.rows import Arena, Quality, Row, Speed, as_json
from weighbridge.evidence.table import table

__all__ = ["Arena", "Quality", "Row", "Speed", "as_json", "table"]
