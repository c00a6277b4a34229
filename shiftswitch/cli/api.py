"""``shiftswitch api``: the HTTP API and the web console (README: HTTP API), served by uvicorn."""

from __future__ import annotations

import click

from shiftswitch.cli.context import Context, pass_context
from shiftswitch.cli.options import loglevel_option
from shiftswitch.cli.processes import configure_logging
from shiftswitch.notify.service import configured

LOOPBACK = ("127.0.0.1", "localhost", "::1", "[::1]")


@click.command()
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on; 0.0.0.0 to be reached from other hosts (put TLS in front).",
)
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True)
@click.option(
    "--allowed-hosts",
    metavar="LIST",
    help="Host names the server answers to (comma-separated; default: 127.0.0.1, localhost and "
    "::1 when it listens on loopback, any otherwise). Others get 400.",
)
@click.option(
    "--forwarded-allow-ips",
    metavar="LIST",
    help="Proxies whose X-Forwarded-Proto/For are trusted (comma-separated addresses, or *; "
    "default: $FORWARDED_ALLOW_IPS, else 127.0.0.1): behind a TLS proxy, the session cookie "
    "is then Secure and failed logins are counted per client.",
)
@loglevel_option
@pass_context
def api(
    ctx: Context,
    host: str,
    port: int,
    allowed_hosts: str | None,
    forwarded_allow_ips: str | None,
    loglevel: str,
) -> None:
    """Serve the HTTP API under /api/v1 (documentation at /api/docs) and the web console at /.

    Callers authenticate with an API token ('shiftswitch tokens create') or log in to the
    console as a user ('shiftswitch users add'). It reads the same settings as every other
    command: DATABASE_URL, REDIS_URL, the roster source.
    """
    # Imported here: every other command starts without loading the web stack.
    import uvicorn  # noqa: PLC0415

    from shiftswitch.db import missing_file, no_such_file, redacted  # noqa: PLC0415
    from shiftswitch.server import create_app  # noqa: PLC0415

    configure_logging(loglevel)
    if allowed_hosts:
        hosts = tuple(h.strip() for h in allowed_hosts.split(",") if h.strip())
    elif host in LOOPBACK:
        hosts = LOOPBACK
    else:
        hosts = ("*",)
    configured(ctx.settings.notify_path)  # a bad SHIFTSWITCH_NOTIFY: one line, not a start
    if missing_file(ctx.settings.database_url):  # connecting would create it, empty
        raise click.ClickException(f"{no_such_file(redacted(ctx.settings.database_url))} first")
    app = create_app(ctx.settings, ctx.clock, allowed_hosts=hosts)
    try:
        uvicorn.run(
            app,
            host=host,
            port=port,
            log_config=None,  # the shiftswitch log format, set above
            access_log=loglevel == "debug",
            server_header=False,
            forwarded_allow_ips=forwarded_allow_ips,
        )
    except OSError as exc:
        raise click.ClickException(f"cannot listen on {host}:{port}: {exc.strerror}") from None
