"""Compare: weigh models side by side on your own prompts, with scores, costs and a recommendation.

The path of a run, one module per step::

    promptset.py   a JSONL, CSV or YAML file -> typed cases (cases.py), templates rendered (templates.py)
    runner.py      every (model, prompt, sample) cell: cached by content hash (cellkey.py), limited per
                   provider (limits.py), streamed, stored the moment it ends (store/runs.py)
    scorers.py     checks on one answer (matching.py, userfunc.py); judge.py and pairwise.py ask a model
    results.py     a stored run as the views read it; stats.py and recommend.py the numbers
    report.py      the terminal view; html_report.py (with charts.py) and export.py the files

``weighbridge show`` rebuilds every view from the store, so it never calls a model.
"""

from __future__ import annotations

from weighbridge.compare.cases import Case, Check, Options, PromptSet
from weighbridge.compare.promptset import PromptSetError, load
from weighbridge.compare.runner import Progress, RunOptions, run, run_sync

__all__ = [
    "Case",
    "Check",
    "Options",
    "Progress",
    "PromptSet",
    "PromptSetError",
    "RunOptions",
    "load",
    "run",
    "run_sync",
]
