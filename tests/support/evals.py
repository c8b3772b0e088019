"""Benchmark tasks asked the way ``weighbridge eval`` asks them, without its runner (items, then
each item's ``ask`` on one client), and GSM8K-shaped data to ask them on."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from weighbridge.client import Client
from weighbridge.config import load_settings
from weighbridge.eval.task import Item, Task


def asked(task: Task, items: list[Item], model: str = "smollm2-135m") -> list[tuple[Item, dict[str, Any]]]:
    """Each item asked of ``model`` (the embedded one unless told), with its record."""

    async def ask_all(client: Client) -> list[dict[str, Any]]:
        try:
            return list(await asyncio.gather(*(task.ask(client, model, item) for item in items)))
        finally:
            await client.aclose()

    with Client(load_settings()) as client:
        return list(zip(items, asyncio.run(ask_all(client)), strict=True))


def lm_eval_task(path: str) -> dict[str, Any]:
    """One of lm-eval's own task files, as installed (``gsm8k/gsm8k.yaml``)."""
    import lm_eval
    import yaml

    return dict(yaml.safe_load((Path(lm_eval.__file__).parent / "tasks" / path).read_text()))


def gsm8k_problem(n: int) -> dict[str, str]:
    """A GSM8K-shaped row: the worked answer ends in ``#### <number>``."""
    return {
        "question": f"Tom has {n} apples and buys {n + 2} more. How many apples does he have?",
        "answer": f"Tom has {n} + {n + 2} = <<{n}+{n + 2}={2 * n + 2}>>{2 * n + 2} apples.\n#### {2 * n + 2}",
    }


def write_gsm8k(folder: Path, test: int, train: int) -> Path:
    """The hub's ``openai/gsm8k`` exported as JSON lines (``main/<split>.jsonl``); the train
    rows are numbered from 100, so no example is a test question."""
    (folder / "main").mkdir(parents=True)
    for split, rows in (("test", range(test)), ("train", range(100, 100 + train))):
        lines = "".join(json.dumps(gsm8k_problem(n)) + "\n" for n in rows)
        (folder / "main" / f"{split}.jsonl").write_text(lines)
    return folder
