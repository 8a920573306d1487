"""``ajam journal``: query the call journal (missed calls, by number/extension/period/outcome), CSV export.

Periods: ``--since``/``--until`` take an ISO date or date-time (``2024-05-01``, ``2024-05-01T09:30``;
without a zone: local time), a duration back from now (``90s``, ``30m``, ``1h``, ``7d``, ``2w``),
``now``, ``today`` or ``yesterday`` (local midnight).
"""

from __future__ import annotations

import json
import re
import sys
import time
from datetime import datetime, timedelta
from typing import Any

import click

from ajam.calls.journal import open_journal
from ajam.calls.model import Outcome
from ajam.cli.calls import emit, format_call
from ajam.cli.exit_codes import fail
from ajam.errors import JournalError

_RELATIVE = re.compile(r"^(\d+(?:\.\d+)?)\s*([smhdw])$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_moment(text: str, now: float | None = None) -> float:
    """A ``--since``/``--until`` value → POSIX seconds (see the module docstring)."""
    moment = time.time() if now is None else now
    value = text.strip().lower()
    if value == "now":
        return moment
    if value in ("today", "yesterday"):
        midnight = datetime.fromtimestamp(moment).replace(hour=0, minute=0, second=0, microsecond=0)
        if value == "yesterday":
            midnight -= timedelta(days=1)
        return midnight.timestamp()
    relative = _RELATIVE.match(value)
    if relative:
        return moment - float(relative.group(1)) * _UNIT_SECONDS[relative.group(2)]
    try:
        parsed = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(
            f"not a time: {text!r} (use an ISO date like 2024-05-01, a duration like 1h or 7d, today, now)"
        ) from None
    return parsed.timestamp()  # naive: local time


def _moment_option(ctx: click.Context, param: click.Parameter, value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return parse_moment(value)
    except ValueError as error:
        raise click.BadParameter(str(error), ctx, param) from None


@click.command()
@click.option(
    "--db",
    default=None,
    help="Journal path or postgresql:// URL (default: $AJAM_JOURNAL or ~/.local/share/ajam/calls.db).",
)
@click.option("--missed", is_flag=True, help="Inbound calls nobody answered.")
@click.option("--since", default=None, callback=_moment_option, help="From this time (ISO, 1h, 7d, today).")
@click.option("--until", default=None, callback=_moment_option, help="Before this time.")
@click.option("--number", default=None, help="Caller or callee number (* and ? as wildcards).")
@click.option("--extension", default=None, help="Calls this extension took part in.")
@click.option(
    "--outcome",
    "outcomes",
    multiple=True,
    type=click.Choice([outcome.value for outcome in Outcome]),
    help="Only these outcomes (repeatable).",
)
@click.option("--direction", type=click.Choice(["inbound", "outbound", "internal"]), default=None)
@click.option(
    "--limit", type=click.IntRange(min=1), default=None, help="At most N calls (default 100; CSV: all)."
)
@click.option("--csv", "as_csv", is_flag=True, help="CSV with a header row.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per call.")
def journal(
    db: str | None,
    missed: bool,
    since: float | None,
    until: float | None,
    number: str | None,
    extension: str | None,
    outcomes: tuple[str, ...],
    direction: str | None,
    limit: int | None,
    as_csv: bool,
    as_json: bool,
) -> None:
    """List the stored calls, newest first."""
    if as_csv and as_json:
        raise click.UsageError("--csv and --json exclude each other")
    filters: dict[str, Any] = {
        "number": number,
        "extension": extension,
        "since": since,
        "until": until,
        "outcome": list(outcomes) or None,
        "missed": missed,
        "direction": direction,
    }
    try:
        with open_journal(db) as opened:
            if as_csv:
                opened.export_csv(sys.stdout, limit=limit, **filters)
                sys.stdout.flush()
                return
            for call in opened.query(limit=limit or 100, **filters):
                emit(json.dumps(call.to_json(), ensure_ascii=False) if as_json else format_call(call))
    except JournalError as error:
        fail(error)
