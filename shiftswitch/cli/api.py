"""``shiftswitch api``: the HTTP API and the web console (SPEC §10), served by uvicorn."""

from __future__ import annotations

import click

from shiftswitch.cli.context import Context, pass_context
from shiftswitch.cli.options import loglevel_option
from shiftswitch.cli.processes import configure_logging


@click.command()
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on; 0.0.0.0 to be reached from other hosts (put TLS in front).",
)
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True)
@loglevel_option
@pass_context
def api(ctx: Context, host: str, port: int, loglevel: str) -> None:
    """Serve the HTTP API under /api/v1 (documentation at /api/docs) and the web console at /.

    Callers authenticate with an API token ('shiftswitch tokens create') or log in to the
    console as a user ('shiftswitch users add'). It reads the same settings as every other
    command: DATABASE_URL, REDIS_URL, the roster source.
    """
    # Imported here: every other command starts without loading the web stack.
    import uvicorn  # noqa: PLC0415

    from shiftswitch.api.app import create_app  # noqa: PLC0415

    configure_logging(loglevel)
    app = create_app(ctx.settings, ctx.clock)
    try:
        uvicorn.run(
            app,
            host=host,
            port=port,
            log_config=None,  # the shiftswitch log format, set above
            access_log=loglevel == "debug",
            server_header=False,
        )
    except OSError as exc:
        raise click.ClickException(f"cannot listen on {host}:{port}: {exc.strerror}") from None
