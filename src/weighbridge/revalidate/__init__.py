"""Revalidation: when a model retires or is replaced, every stored compare run and evaluation
that used it is made again on the replacement, and the two are set side by side.

Nothing already answered is asked again: the old model's numbers are read from its stored runs,
the new model's come from runs made the ordinary way (stored, listed by ``weighbridge runs``,
sharing every cached answer), and the verdict is the paired test compare already uses to tell
two models apart. It sits above compare and eval because it re-runs both::

    verdict.py   the two sides of one run and the verdict (pure, over stored runs)
    rerun.py     finding the runs that used the old model and making each again on the new one
"""

from __future__ import annotations

from weighbridge.revalidate.rerun import Progress, Report, Skipped, revalidate
from weighbridge.revalidate.verdict import Revalidation, Side

__all__ = ["Progress", "Report", "Revalidation", "Side", "Skipped", "revalidate"]
