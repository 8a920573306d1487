"""Exit codes of every ``ajam`` command, and the mapping from ajam errors to them."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Coroutine
from typing import Any, NoReturn, TypeVar

import click

from ajam.errors import (
    ActionFailed,
    ActionTimeout,
    AjamError,
    AuthenticationFailed,
    ConnectionFailed,
    JournalError,
    LocalProtocolError,
)

OK = 0
CHECKS_FAILED = 1  # ajam doctor: at least one check failed (the checklist says which and how to fix it)
USAGE = 2
AUTHENTICATION_FAILED = 3
CANNOT_CONNECT = 4
ACTION_FAILED = 5
TIMEOUT = 6
JOURNAL_FAILED = 7  # the call journal's database could not be opened, read or written
# ajam dial: the tracked outcome of a click-to-call that was not answered by the customer
DIAL_AGENT_NO_ANSWER = 10
DIAL_AGENT_BUSY = 11
DIAL_BUSY = 12
DIAL_NO_ANSWER = 13
DIAL_CANCELLED = 14
DIAL_FAILED = 15

EXIT_CODES_HELP = """\b
Exit codes:
  0  ok
  1  ajam doctor: at least one check failed (see the checklist)
  2  usage error (bad arguments, bad URL, a value with CR/LF)
  3  authentication failed
  4  cannot connect / manager not published (HTTP 404) / transport mismatch
  5  action failed (Response: Error, including Permission denied)
  6  timeout (ajam dial: no result in time)
  7  call journal database error
  10 ajam dial: the agent did not answer     11 the agent was busy
  12 the customer was busy                   13 the customer did not answer
  14 the agent hung up before the answer     15 the call failed
"""

T = TypeVar("T")


def exit_code_for(error: BaseException) -> int:
    if isinstance(error, AuthenticationFailed):
        return AUTHENTICATION_FAILED
    if isinstance(error, ActionTimeout | TimeoutError):
        return TIMEOUT
    if isinstance(error, ConnectionFailed):
        return CANNOT_CONNECT
    if isinstance(error, ActionFailed):
        return ACTION_FAILED
    if isinstance(error, LocalProtocolError):
        return USAGE
    if isinstance(error, JournalError):
        return JOURNAL_FAILED
    return 1


def fail(error: BaseException) -> NoReturn:
    """Print the error (never holds a secret) and exit with its code."""
    kind = type(error).__name__
    click.echo(f"ajam: {kind}: {error}", err=True)
    sys.exit(exit_code_for(error))


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a command's coroutine; an ajam error becomes its documented exit code."""
    try:
        return asyncio.run(coroutine)
    except (AjamError, TimeoutError) as error:
        fail(error)
    except KeyboardInterrupt:
        sys.exit(130)
