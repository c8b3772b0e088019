"""``weighbridge arena``: the arena's leaderboard and votes, read from the store."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from typing import Any

import click

from weighbridge.cli import context


@click.group()
def arena() -> None:
    """The blind arena's votes and leaderboard (votes are cast on the page: weighbridge ui)."""


@arena.command()
@click.option("--task", default=None, help="Only the votes with this task tag.")
@click.option("--json", "as_json", is_flag=True, help="Print the leaderboard as JSON.")
@click.option("--seed", default=0, show_default=True, help="Seed of the bootstrap intervals.")
@click.pass_context
def leaderboard(ctx: click.Context, task: str | None, as_json: bool, seed: int) -> None:
    """Bradley-Terry ratings with 95% bootstrap intervals, beside each model's median
    latency and cost per 1,000 prompts from the inference log."""
    from weighbridge.web import votes

    store = context.settings(ctx).open_store()
    try:
        with store.connection() as db:
            board = votes.leaderboard(db, task=task, seed=seed)
    finally:
        store.close()
    if as_json:
        click.echo(json.dumps(board, indent=2))
        return
    click.echo(_table(board))


def _table(board: dict[str, Any]) -> str:
    title = f"arena leaderboard ({board['task'] or 'all tasks'}): {board['votes']} votes"
    if not board["models"]:
        return title + "\nno votes yet: cast some with `weighbridge ui`"
    header = ("#", "model", "rating", "95% CI", "votes", "win %", "median ms", "$/1k prompts")
    rows = [header]
    for row in board["models"]:
        win = 100 * row["wins"] / row["votes"] if row["votes"] else 0.0
        latency = row["median_latency_ms"]
        cost = row["cost_per_1k_prompts_usd"]
        rows.append(
            (
                str(row["rank"]),
                row["model"],
                f"{row['rating']:.0f}",
                f"{row['low']:.0f}–{row['high']:.0f}",
                str(row["votes"]),
                f"{win:.0f}",
                "-" if latency is None else f"{latency:.0f}",
                "-" if cost is None else f"{cost:.4f}",
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = [
        "  ".join(
            cell.ljust(w) if i == 1 else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(r, widths, strict=True))
        )
        for r in rows
    ]
    return "\n".join([title, *lines])


@arena.command()
@click.option("--task", default=None, help="Only the votes with this task tag.")
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None, help="File (default: stdout).")
@click.pass_context
def export(ctx: click.Context, task: str | None, output: str | None) -> None:
    """Write the votes as JSON Lines, oldest first."""
    from weighbridge.web import votes

    store = context.settings(ctx).open_store()
    try:
        with store.connection() as db:
            stored = votes.load(db, task=task)
    finally:
        store.close()
    lines = "".join(json.dumps(asdict(v)) + "\n" for v in stored)
    if output is None:
        sys.stdout.write(lines)
    else:
        with open(output, "w", encoding="utf-8") as out:
            out.write(lines)
