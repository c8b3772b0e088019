"""``weighbridge run``: one prompt to one model, streamed to the terminal."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

import click

from weighbridge.cli import context

if TYPE_CHECKING:
    from weighbridge.types import ChatResponse


@click.command()
@click.argument("prompt", required=False)
@click.option("-m", "--model", help="Model id (default: the embedded smollm2-135m).")
@click.option("-s", "--system", help="System prompt.")
@click.option("-t", "--temperature", type=float)
@click.option("--top-p", type=float)
@click.option("--max-tokens", type=int)
@click.option("--seed", type=int)
@click.option("--stop", multiple=True, help="Stop sequence (repeatable).")
@click.option("--json", "json_mode", is_flag=True, help="Constrain the answer to a JSON object.")
@click.option("--no-stream", is_flag=True, help="Print the answer only when it is complete.")
@click.option("-q", "--quiet", is_flag=True, help="Print the answer only, without the figures.")
@click.pass_context
def run(
    ctx: click.Context,
    prompt: str | None,
    model: str | None,
    system: str | None,
    temperature: float | None,
    top_p: float | None,
    max_tokens: int | None,
    seed: int | None,
    stop: tuple[str, ...],
    json_mode: bool,
    no_stream: bool,
    quiet: bool,
) -> None:
    """Send PROMPT (or standard input) to a model and stream the answer.

    \b
    weighbridge run "What is the capital of France?"
    echo "Summarise: ..." | weighbridge run -m gpt-5 --max-tokens 200
    """
    from weighbridge.errors import InvalidRequestError

    if prompt is None:
        if sys.stdin.isatty():
            raise InvalidRequestError("give a PROMPT, or pipe one on standard input")
        prompt = sys.stdin.read()
    if not prompt.strip():
        raise InvalidRequestError("the prompt is empty")
    messages: list[dict[str, str]] = []
    if system:
        messages.append({"role": "system", "content": system})
    messages.append({"role": "user", "content": prompt})
    params: dict[str, Any] = {
        k: v
        for k, v in {
            "temperature": temperature,
            "top_p": top_p,
            "max_tokens": max_tokens,
            "seed": seed,
            "stop": list(stop) or None,
            "response_format": {"type": "json_object"} if json_mode else None,
        }.items()
        if v is not None
    }
    client = context.client(ctx)
    response: ChatResponse | None
    if no_stream:
        response = client.chat(messages, model=model, **params)
        click.echo(response.content)
    else:
        stream = client.stream(messages, model=model, **params)
        for chunk in stream:
            click.echo(chunk.text, nl=False)
        click.echo()
        response = stream.response
    if response is not None and not quiet:
        from weighbridge.cli.render import figures

        click.echo(figures(response), err=True)
