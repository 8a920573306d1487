"""``ajam serve --pbx URL``: the web gateway (REST, WebSocket/SSE/long-poll push, web panel) on uvicorn."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import ipaddress
import signal
from collections.abc import Callable, Iterator
from pathlib import Path

import click
import uvicorn
from fastapi import FastAPI

from ajam.cli.exit_codes import fail, run
from ajam.client.url import InvalidUrl
from ajam.errors import JournalError
from ajam.gateway.settings import DEFAULT_HOST, DEFAULT_PORT, DialSettings, GatewaySettings, parse_listen
from ajam.gateway.users import open_store


class _Server(uvicorn.Server):
    """Stops gracefully on SIGINT/SIGTERM and then returns normally (uvicorn's own handler re-raises
    the signal after shutting down, which would turn a clean stop into exit status 130 or a kill)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        loop = asyncio.get_running_loop()
        for number in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(number, self.handle_exit, number, None)
        try:
            yield
        finally:
            for number in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(number)


async def serve_app(app: FastAPI, host: str, port: int, on_started: Callable[[str], None]) -> None:
    """Run ``app`` until SIGINT/SIGTERM; ``on_started(url)`` once it listens (port 0: the real port)."""
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="warning",
        lifespan="on",
        timeout_graceful_shutdown=3,
        ws_ping_interval=20,
        ws_ping_timeout=20,
    )
    server = _Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            await task
            raise click.ClickException(f"the gateway could not start on {host}:{port}")
        await asyncio.sleep(0.02)
    bound_port = server.servers[0].sockets[0].getsockname()[1]
    # Everything built at startup lives as long as the process: keep it out of the collector's full
    # scans, which otherwise pause the event loop for 100+ ms under load (bench/bench_gateway.py).
    gc.freeze()
    shown = f"[{host}]" if ":" in host else host
    on_started(f"http://{shown}:{bound_port}/")
    await task


def is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


@click.command("serve")
@click.option("--pbx", "pbx_url", required=True, help="The manager URL (ami://, http://...; see ajam -h).")
@click.option("--db", default=None, help="Call journal (and users): path or URL (default: ajam's data dir).")
@click.option(
    "--listen", default=f"{DEFAULT_HOST}:{DEFAULT_PORT}", show_default=True, help="Address and port to serve."
)
@click.option("--bus", "bus_url", default=None, help="redis://... to share events with other gateways.")
@click.option(
    "--recordings",
    "recordings_dir",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    default=None,
    help="Folder with the PBX's call recordings (offered for playback).",
)
@click.option(
    "--contact-url", default=None, help="Link of a caller's contact, e.g. https://crm/find?phone={number}."
)
@click.option("--secure-cookies", is_flag=True, help="Mark the session cookie Secure (behind HTTPS).")
@click.option(
    "--dial-context", default="agents", show_default=True, help="Click-to-call: the agents' context."
)
@click.option(
    "--dial-prefix", default="8", show_default=True, help="Click-to-call: prefix of outside numbers."
)
@click.option("--dial-channel", default="PJSIP/{extension}", show_default=True, help="The agent's phone.")
def serve(
    pbx_url: str,
    db: str | None,
    listen: str,
    bus_url: str | None,
    recordings_dir: Path | None,
    contact_url: str | None,
    secure_cookies: bool,
    dial_context: str,
    dial_prefix: str,
    dial_channel: str,
) -> None:
    """Run the web gateway for one PBX (127.0.0.1:8000 by default) until Ctrl-C."""
    try:
        host, port = parse_listen(listen)
        settings = GatewaySettings(
            pbx_url=pbx_url,
            db=db,
            host=host,
            port=port,
            bus_url=bus_url,
            recordings_dir=recordings_dir,
            contact_url=contact_url,
            secure_cookies=secure_cookies,
            dial=DialSettings(channel_template=dial_channel, context=dial_context, prefix=dial_prefix),
        )
    except (ValueError, InvalidUrl) as error:
        raise click.UsageError(str(error)) from None
    if not is_loopback(host):
        click.echo(
            f"ajam serve: listening on {host}, beyond this machine: put it behind HTTPS (and --secure-cookies)",
            err=True,
        )
    try:
        store = open_store(db)
        users = store.count_users()
        store.close()
    except JournalError as error:
        fail(error)
    if users == 0:
        click.echo("ajam serve: no users yet; create the admin: ajam users add admin --role admin", err=True)

    from ajam.gateway.app import create_app

    def started(url: str) -> None:
        click.echo(f"ajam gateway on {url}  (Ctrl-C to stop)", err=True)

    with contextlib.suppress(KeyboardInterrupt):
        run(serve_app(create_app(settings), host, port, started))
