"""``ajam calls URL`` (live) and ``ajam calls --replay FILE`` (offline): one line per finished call."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sys

import click

from ajam.calls.journal import AsyncJournal, open_journal
from ajam.calls.model import Call
from ajam.calls.notify import CallNotification
from ajam.calls.replay import replay_file
from ajam.calls.service import CallService
from ajam.cli.exit_codes import USAGE, run
from ajam.client import create_client


def format_call(call: Call) -> str:
    """``<start> <direction> <caller> -> <callee> <outcome> [by X] wait Ns talk Ns [queue Q] [rec FILE]``."""
    data = call.to_json()

    def party(number: str, name: str) -> str:
        return f'{number or "?"} "{name}"' if name else number or "?"

    parts = [
        str(data["started_at"] or "-"),
        str(call.direction),
        party(call.caller.number, call.caller.name),
        "->",
        party(call.callee.number, call.callee.name),
        str(call.outcome or "live"),
    ]
    if call.answered_by:
        parts.append(f"by {call.answered_by}")
    parts.append(f"wait {_seconds(call.wait_seconds)} talk {_seconds(call.talk_seconds)}")
    if call.queue:
        parts.append(f"queue {call.queue}")
    if call.transfers:
        parts.append("transferred " + ",".join(f"{t.transferer}>{t.target}" for t in call.transfers))
    if call.recording:
        parts.append(f"rec {call.recording}")
    parts.append(f"id {call.id}")
    return " ".join(parts)


def call_line(call: Call, as_json: bool) -> str:
    return json.dumps(call.to_json(), ensure_ascii=False) if as_json else format_call(call)


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:g}s"


def emit(line: str) -> None:
    click.echo(line)
    sys.stdout.flush()


@click.command()
@click.argument("url", required=False)
@click.option(
    "--replay", "replay", type=click.Path(exists=True, dir_okay=False), help="Raw AMI TCP stream file."
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per call (Call.to_json).")
@click.option("--db", default=None, help="Store the calls in this journal (path or postgresql:// URL).")
@click.option("--seconds", type=click.FloatRange(min=0), default=None, help="Stop after S seconds (live).")
@click.option("--count", type=click.IntRange(min=1), default=None, help="Stop after N finished calls (live).")
def calls(
    url: str | None,
    replay: str | None,
    as_json: bool,
    db: str | None,
    seconds: float | None,
    count: int | None,
) -> None:
    """Follow live calls on URL, or replay a capture with --replay; print each call when it ends.

    Calls are stored in the journal (--db) before they are printed. Stop with Ctrl-C (the calls already
    finished are stored first).
    """
    if (url is None) == (replay is None):
        click.echo("ajam calls: give either URL or --replay FILE", err=True)
        sys.exit(USAGE)
    if replay is not None:
        _replay(replay, as_json, db)
        return
    assert url is not None
    run(_follow(url, as_json, db, seconds, count))


def _replay(path: str, as_json: bool, db: str | None) -> None:
    try:
        result = replay_file(path)
    except OSError as error:
        click.echo(f"ajam calls: cannot read {path}: {error.strerror}", err=True)
        sys.exit(USAGE)
    if db is not None:
        with open_journal(db) as journal:
            journal.store_many(result.finished)
    for call in result.finished:
        emit(call_line(call, as_json))
    if result.live:
        click.echo(f"ajam calls: {len(result.live)} call(s) still live at the end of the stream", err=True)


async def _follow(url: str, as_json: bool, db: str | None, seconds: float | None, count: int | None) -> None:
    journal = await AsyncJournal.open(db) if db is not None else None
    client = create_client(url)
    done = asyncio.Event()
    printed = 0

    def on_ended(notification: CallNotification) -> None:
        nonlocal printed
        emit(call_line(notification.call, as_json))
        printed += 1
        if count is not None and printed >= count:
            done.set()

    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, done.set)
    service = CallService(client, journal=journal)
    service.subscribe(on_ended, kinds={"ended"})
    try:
        async with service:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(done.wait(), seconds)
    finally:
        await client.close()
        if journal is not None:
            await journal.close()
