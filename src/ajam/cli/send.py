"""``ajam send URL ACTION [Key=Value ...]``: send one action, print its response and list events."""

from __future__ import annotations

import json
import sys

import click

from ajam.cli.exit_codes import ACTION_FAILED, OK, run
from ajam.client import connect
from ajam.client.base import Reply, check_reply
from ajam.errors import ActionFailed
from ajam.protocol.encode import check_header
from ajam.protocol.message import Message


def parse_assignments(values: tuple[str, ...]) -> list[tuple[str, str]]:
    """``Key=Value`` arguments as ordered pairs (a repeated key stays repeated); checked for CR/LF/NUL."""
    pairs: list[tuple[str, str]] = []
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise click.UsageError(f"expected Key=Value, got {item!r}")
        try:
            check_header(key, value)
        except ValueError as error:
            raise click.UsageError(str(error)) from None
        pairs.append((key, value))
    return pairs


def format_message(message: Message) -> str:
    lines = [f"{key}: {value}" for key, value in message.headers]
    lines.extend(message.lines)
    return "\n".join(lines) + "\n"


@click.command()
@click.argument("url")
@click.argument("action")
@click.argument("headers", nargs=-1, metavar="[KEY=VALUE]...")
@click.option("--json", "as_json", is_flag=True, help='Print {"response": {...}, "events": [...]}.')
@click.option("--timeout", default=10.0, show_default=True, help="Seconds to wait for the response.")
def send(url: str, action: str, headers: tuple[str, ...], as_json: bool, timeout: float) -> None:
    """Send ACTION with KEY=VALUE headers and print the reply (exit 0 on Response: Success)."""
    pairs = parse_assignments(headers)
    reply = run(_send(url, action, pairs, timeout))
    if as_json:
        # surrogateescape keeps undecodable PBX bytes as escapes in the JSON text instead of crashing
        click.echo(
            json.dumps(reply.to_dict(), ensure_ascii=False).encode("utf-8", "backslashreplace").decode()
        )
    else:
        click.echo("\n".join(format_message(m) for m in [reply.response, *reply.events]))
    if not reply.ok:
        try:
            check_reply(action, reply)
        except ActionFailed as error:
            click.echo(f"ajam: {error}", err=True)
    sys.exit(OK if reply.ok else ACTION_FAILED)


async def _send(url: str, action: str, pairs: list[tuple[str, str]], timeout: float) -> Reply:
    async with await connect(url) as client:
        return await client.send(action, pairs, timeout=timeout, check=False)
