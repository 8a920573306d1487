"""``ajam events URL``: follow events live, one line per event."""

from __future__ import annotations

import asyncio
import json

import click

from ajam.cli.exit_codes import run
from ajam.client import create_client, is_notice
from ajam.protocol.message import Event


def format_event(event: Event) -> str:
    """``Name Key=Value Key=Value ...`` on one line (the ``Event`` header itself is the name)."""
    fields = " ".join(
        f"{key}={json.dumps(value, ensure_ascii=False) if ' ' in value or not value else value}"
        for key, value in event.headers
        if key.lower() != "event"
    )
    return f"{event.name} {fields}".rstrip()


@click.command()
@click.argument("url")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@click.option(
    "--filter", "filters", multiple=True, metavar="NAME", help="Only these events (glob, repeatable)."
)
@click.option("--count", type=click.IntRange(min=1), default=None, help="Stop after N events.")
@click.option("--seconds", type=click.FloatRange(min=0), default=None, help="Stop after S seconds.")
def events(
    url: str, as_json: bool, filters: tuple[str, ...], count: int | None, seconds: float | None
) -> None:
    """Print events as they arrive (client notices such as AjamReconnected included)."""
    for pattern in filters:
        if any(char in pattern for char in "\r\n\0"):
            raise click.UsageError("--filter: an event name cannot hold CR, LF or NUL")
    run(_follow(url, as_json, filters, count, seconds))


async def _follow(
    url: str, as_json: bool, filters: tuple[str, ...], count: int | None, seconds: float | None
) -> None:
    client = create_client(url)
    if filters:
        client.filter_events(*filters)
    stream = client.events()  # before login, so the events that follow it are not missed
    await client.connect()
    try:
        seen = 0
        loop = asyncio.get_running_loop()
        deadline = None if seconds is None else loop.time() + seconds
        while count is None or seen < count:
            remaining = None if deadline is None else deadline - loop.time()
            if remaining is not None and remaining <= 0:
                break
            try:
                event = await asyncio.wait_for(stream.__anext__(), remaining)
            except (TimeoutError, StopAsyncIteration):
                break
            click.echo(json.dumps(event.to_dict(), ensure_ascii=False) if as_json else format_event(event))
            if not is_notice(event):
                seen += 1
        stream.close()
    finally:
        await client.close()
