"""The ``weighbridge`` command. Each command group lives in its own module and imports the
library only when it runs, so ``weighbridge --help`` loads nothing but click.

Every :class:`~weighbridge.errors.WeighbridgeError` ends the command with one line on stderr
and exit code 2; set WEIGHBRIDGE_DEBUG=1 to see the traceback instead.
"""

from __future__ import annotations

import os
from typing import Any

import click

from weighbridge.cli import (
    arena,
    audit,
    compare,
    crossover,
    db,
    drift,
    evals,
    evidence,
    finetune,
    image,
    keys,
    logs,
    models,
    pin,
    ps,
    quantize,
    revalidate,
    routes,
    run,
    serve,
    simulate,
    spend,
    ui,
)


class _Group(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        from weighbridge.errors import WeighbridgeError

        try:
            return super().invoke(ctx)
        except WeighbridgeError as exc:
            if os.environ.get("WEIGHBRIDGE_DEBUG"):
                raise
            click.echo(f"error: {exc.message}", err=True)
            ctx.exit(2)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            ctx.exit(130)


@click.group(cls=_Group)
@click.version_option(package_name="weighbridge")
@click.option(
    "--config",
    type=click.Path(dir_okay=False),
    envvar="WEIGHBRIDGE_CONFIG",
    help="Config file (default: $WEIGHBRIDGE_HOME/config.toml).",
)
@click.option(
    "--allow-unpinned",
    is_flag=True,
    help="Load local weights even where they no longer match weighbridge.lock.",
)
@click.pass_context
def cli(ctx: click.Context, config: str | None, allow_unpinned: bool) -> None:
    """Run open-weight and closed models side by side: one interface, every call logged.

    With no configuration it runs SmolLM2-135M-Instruct locally: no key, no network.
    """
    ctx.obj = {"config": config}
    if allow_unpinned:  # read where weights are hashed before a call (weighbridge.weights)
        os.environ["WEIGHBRIDGE_ALLOW_UNPINNED"] = "1"


cli.add_command(models.models)
cli.add_command(routes.routes)
cli.add_command(simulate.route)
cli.add_command(run.run)
cli.add_command(image.image)
cli.add_command(logs.logs)
cli.add_command(serve.serve)
cli.add_command(ps.ps)
cli.add_command(audit.audit)
cli.add_command(db.db)
cli.add_command(evals.eval_command)
cli.add_command(evidence.evidence)
cli.add_command(revalidate.revalidate)
cli.add_command(keys.keys)
cli.add_command(compare.compare)
cli.add_command(compare.runs)
cli.add_command(compare.show)
cli.add_command(pin.pin)
cli.add_command(pin.verify)
cli.add_command(quantize.quantize)
cli.add_command(drift.drift)
cli.add_command(finetune.finetune)
cli.add_command(spend.spend)
cli.add_command(crossover.crossover)
cli.add_command(arena.arena)
cli.add_command(ui.ui)


def main() -> None:
    cli.main(prog_name="weighbridge")


if __name__ == "__main__":
    main()
