"""``ajam dial URL --from EXT --to NUMBER``: click-to-call with the tracked outcome as exit code."""

from __future__ import annotations

import json
import sys

import click

from ajam.calls.click_to_call import ClickToCallResult, ClickToCallStatus, click_to_call
from ajam.calls.journal import AsyncJournal
from ajam.calls.model import Call
from ajam.calls.service import CallService
from ajam.cli.calls import emit, format_call
from ajam.cli.exit_codes import (
    DIAL_AGENT_BUSY,
    DIAL_AGENT_NO_ANSWER,
    DIAL_BUSY,
    DIAL_CANCELLED,
    DIAL_FAILED,
    DIAL_NO_ANSWER,
    OK,
    TIMEOUT,
    run,
)
from ajam.client import create_client

EXIT_CODES = {
    ClickToCallStatus.ANSWERED: OK,
    ClickToCallStatus.AGENT_NO_ANSWER: DIAL_AGENT_NO_ANSWER,
    ClickToCallStatus.AGENT_BUSY: DIAL_AGENT_BUSY,
    ClickToCallStatus.BUSY: DIAL_BUSY,
    ClickToCallStatus.NO_ANSWER: DIAL_NO_ANSWER,
    ClickToCallStatus.CANCELLED: DIAL_CANCELLED,
    ClickToCallStatus.FAILED: DIAL_FAILED,
    ClickToCallStatus.TIMEOUT: TIMEOUT,
}


@click.command()
@click.argument("url")
@click.option("--from", "extension", required=True, help="The agent's extension (rings first).")
@click.option("--to", "number", required=True, help="The customer's number.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.option("--timeout", default=30.0, show_default=True, help="Seconds the agent's phone may ring.")
@click.option("--context", default="agents", show_default=True, help="Dialplan context of the agent's phone.")
@click.option("--prefix", "dial_prefix", default="8", show_default=True, help="Prepended to the number.")
@click.option("--channel", "channel_template", default="PJSIP/{extension}", show_default=True)
@click.option("--caller-id", default=None, help='CallerID shown to the agent, e.g. "Client" <495...>.')
@click.option("--wait-end", is_flag=True, help="After the answer, wait for the end of the call and print it.")
@click.option("--db", default=None, help="Store the call in this journal.")
def dial(
    url: str,
    extension: str,
    number: str,
    as_json: bool,
    timeout: float,
    context: str,
    dial_prefix: str,
    channel_template: str,
    caller_id: str | None,
    wait_end: bool,
    db: str | None,
) -> None:
    """Ring --from, then dial --to from it; print the outcome (exit 0 when the customer answered)."""
    result, final = run(
        _dial(
            url, extension, number, timeout, context, dial_prefix, channel_template, caller_id, wait_end, db
        )
    )
    if as_json:
        document = result.to_json()
        if wait_end:
            document["final"] = None if final is None else final.to_json()
        emit(json.dumps(document, ensure_ascii=False))
    else:
        emit(f"{result.status}: {result.reason}" + (f" (call {result.call_id})" if result.call_id else ""))
        if final is not None:
            emit(format_call(final))
    sys.exit(EXIT_CODES[result.status])


async def _dial(
    url: str,
    extension: str,
    number: str,
    timeout: float,
    context: str,
    dial_prefix: str,
    channel_template: str,
    caller_id: str | None,
    wait_end: bool,
    db: str | None,
) -> tuple[ClickToCallResult, Call | None]:
    journal = await AsyncJournal.open(db) if db is not None else None
    client = create_client(url)
    try:
        async with CallService(client, journal=journal) as service:
            result = await click_to_call(
                client,
                service,
                extension=extension,
                number=number,
                channel_template=channel_template,
                context=context,
                dial_prefix=dial_prefix,
                caller_id=caller_id,
                timeout=timeout,
            )
            final = await result.final(timeout=None if wait_end else 5.0) if wait_end or db else None
            return result, final if wait_end else None
    finally:
        await client.close()
        if journal is not None:
            await journal.close()
