"""``ajam sms URL --to 101 --body TEXT``: send a text message through the PBX (MessageSend)."""

from __future__ import annotations

import click

from ajam.calls.sms import send_sms
from ajam.cli.exit_codes import run
from ajam.client import connect


@click.command()
@click.argument("url")
@click.option("--to", "to", required=True, help="Endpoint (101 → pjsip:101) or tech:address.")
@click.option("--body", required=True, help="The text (any language, several lines allowed).")
@click.option("--from", "from_", default=None, help='From header, e.g. "CRM" <sip:crm@pbx>.')
def sms(url: str, to: str, body: str, from_: str | None) -> None:
    """Send a message; exit 5 with the PBX's reason when it is refused."""
    message = run(_send(url, to, body, from_))
    click.echo(message)


async def _send(url: str, to: str, body: str, from_: str | None) -> str:
    async with await connect(url) as client:
        reply = await send_sms(client, to=to, body=body, from_=from_)
    return reply.response.message or "sent"
