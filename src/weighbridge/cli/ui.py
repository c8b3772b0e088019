"""``weighbridge ui``: the arena page on a loopback server, opened in the browser."""

from __future__ import annotations

import threading
import webbrowser

import click

from weighbridge.cli import serve as serve_command


@click.command()
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--no-browser", is_flag=True, help="Print the address without opening a browser.")
@click.pass_context
def ui(ctx: click.Context, port: int, no_browser: bool) -> None:
    """Open the arena page: models side by side, blind votes, the leaderboard.

    The server binds 127.0.0.1 only; everything the page loads comes from it.
    """
    url = f"http://127.0.0.1:{port}/"
    click.echo(f"weighbridge arena on {url}", err=True)
    if not no_browser:
        threading.Timer(1.5, webbrowser.open, args=(url,)).start()
    ctx.invoke(serve_command.serve, host="127.0.0.1", port=port, log_level="warning", engine=None, preload=())
