"""A run as JSON (everything: run, cases, cells, summary, recommendation) or as CSV (one row per
answer, for a spreadsheet). Both come from the store, like every other view of a run."""

from __future__ import annotations

import csv
import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from weighbridge.compare.recommend import Recommendation
from weighbridge.compare.results import Results, cell_score
from weighbridge.compare.stats import ModelSummary

CSV_COLUMNS = [
    "run_id",
    "prompt_id",
    "model",
    "sample",
    "prompt",
    "reference",
    "output",
    "error",
    "score",
    "passed",
    "checks",
    "latency_s",
    "ttft_s",
    "prompt_tokens",
    "completion_tokens",
    "cost_usd",
    "cached",
]


def as_json(
    results: Results, summaries: list[ModelSummary], recommendation: Recommendation
) -> dict[str, Any]:
    cells = []
    for cell in results.cells:
        score, passed = cell_score(cell, results.case(cell.prompt_id))
        cells.append({**asdict(cell), "score": score, "passed": passed})
    return {
        "run": {k: v for k, v in asdict(results.run).items() if k != "cases"},
        "cases": [c.model_dump(mode="json") for c in results.cases],
        "summary": [asdict(s) for s in summaries],
        "recommendation": asdict(recommendation),
        "cells": cells,
    }


def write_json(
    path: Path, results: Results, summaries: list[ModelSummary], recommendation: Recommendation
) -> None:
    data = as_json(results, summaries, recommendation)
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def write_csv(path: Path, results: Results) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=CSV_COLUMNS)
        writer.writeheader()
        for cell in results.cells:
            case = results.case(cell.prompt_id)
            score, passed = cell_score(cell, case)
            writer.writerow(
                {
                    "run_id": cell.run_id,
                    "prompt_id": cell.prompt_id,
                    "model": cell.model,
                    "sample": cell.sample,
                    "prompt": case.prompt_text(),
                    "reference": "" if case.reference is None else case.reference,
                    "output": cell.output or "",
                    "error": cell.error or "",
                    "score": "" if score is None else f"{score:.4f}",
                    "passed": "" if passed is None else int(passed),
                    "checks": json.dumps(
                        [{k: s[k] for k in ("check", "score", "passed", "reason")} for s in cell.scores],
                        ensure_ascii=False,
                    ),
                    "latency_s": _num(cell.latency_s),
                    "ttft_s": _num(cell.ttft_s),
                    "prompt_tokens": cell.prompt_tokens if cell.prompt_tokens is not None else "",
                    "completion_tokens": cell.completion_tokens if cell.completion_tokens is not None else "",
                    "cost_usd": "" if cell.cost_usd is None else f"{cell.cost_usd:.10f}",
                    "cached": int(cell.cached),
                }
            )


def _num(value: float | None) -> str:
    return "" if value is None else f"{value:.4f}"
