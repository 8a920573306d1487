"""``ajam queues URL``: a snapshot of the call-center view (queues, waiting callers, agents)."""

from __future__ import annotations

import json
import time

import click

from ajam.calls.journal import AsyncJournal
from ajam.calls.queues import QueueBoard, load_queue_board
from ajam.cli.exit_codes import run
from ajam.client import connect


@click.command()
@click.argument("url")
@click.option("--json", "as_json", is_flag=True, help="The board as JSON.")
@click.option("--db", default=None, help="Add the journal's figures (answered, abandoned, wait) for --hours.")
@click.option("--hours", default=24.0, show_default=True, help="Period of the journal's figures.")
def queues(url: str, as_json: bool, db: str | None, hours: float) -> None:
    """Print every queue with its waiting callers and agents."""
    board, now = run(_load(url, db, hours))
    if as_json:
        click.echo(json.dumps(board.to_json(now), ensure_ascii=False))
        return
    for queue in board.to_json(now)["queues"]:  # type: ignore[attr-defined]
        line = f"{queue['name']}: {len(queue['waiting'])} waiting"
        if queue["longest_wait"] is not None:
            line += f" (longest {queue['longest_wait']:g}s)"
        period = queue["period"]
        if period is not None:
            line += f"; last {hours:g}h: {period['answered']} answered, {period['abandoned']} abandoned"
            if period["average_wait"] is not None:
                line += f", average wait {period['average_wait']:g}s"
        click.echo(line)
        for caller in queue["waiting"]:
            click.echo(
                f"  #{caller['position']} {caller['number']} {caller['name']} waiting {caller['wait_seconds']:g}s"
            )
        for agent in queue["agents"]:
            paused = f" ({agent['paused_reason']})" if agent["paused_reason"] else ""
            click.echo(
                f"  {agent['interface']} {agent['name']}: {agent['state']}{paused}, {agent['calls_taken']} calls"
            )


async def _load(url: str, db: str | None, hours: float) -> tuple[QueueBoard, float]:
    journal = await AsyncJournal.open(db) if db is not None else None
    try:
        async with await connect(url) as client:
            now = time.time()
            return await load_queue_board(client, journal=journal, period=hours * 3600, now=now), now
    finally:
        if journal is not None:
            await journal.close()
