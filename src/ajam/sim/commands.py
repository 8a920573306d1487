"""The few Asterisk CLI commands the simulator answers through the ``Command`` action.

Output lines are formatted like Asterisk 22's (``core show uptime``, ``module show like``,
``manager show connected``, ``core show channels``, ``core show version``). An unknown command gets
Asterisk's message, including its "best match" hint, computed the way ``find_best()`` in
``main/cli.c`` does: it appends words while some command still matches the words so far, a mismatch
being tolerated on the last word only when the command has exactly that many words.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass

from ajam.protocol.permissions import CLASSES
from ajam.sim.session import Session

BUILD_LINE = "Asterisk {version} built by root @ vm on a x86_64 running Linux on 2026-11-27 00:11:55 UTC"

# A realistic subset of Asterisk's CLI, used for the unknown-command hint.
KNOWN_COMMANDS: tuple[tuple[str, ...], ...] = (
    ("!",), ("core", "show", "version"), ("core", "show", "uptime"), ("core", "show", "channels"),
    ("core", "show", "help"), ("core", "show", "settings"), ("core", "waitfullybooted"), ("core", "reload"),
    ("module", "show", "like"), ("module", "show"), ("module", "reload"), ("manager", "show", "connected"),
    ("manager", "show", "commands"), ("manager", "reload"), ("dialplan", "show"), ("dialplan", "reload"),
    ("queue", "show"), ("pjsip", "show", "endpoints"), ("channel", "request", "hangup"),
)  # fmt: skip

MANAGER_MODULES = (
    ("cdr_manager.so", "Asterisk Manager Interface CDR Backend", 0),
    ("cel_manager.so", "Asterisk Manager Interface CEL Backend", 0),
    ("manager", "Asterisk Manager Interface", 1),
    ("res_manager_devicestate.so", "Manager Device State Topic Forwarder", 0),
    ("res_manager_presencestate.so", "Manager Presence State Topic Forwarder", 0),
)


@dataclass(frozen=True)
class ChannelRow:
    channel: str
    location: str
    state: str
    application: str
    linkedid: str = ""


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def format_duration(seconds: int) -> str:
    """Asterisk's uptime text: ``33 seconds``, ``2 minutes, 44 seconds``, ``1 hour, 0 minutes, 5 seconds``."""
    seconds = max(0, seconds)
    units = (("year", 31536000), ("week", 604800), ("day", 86400), ("hour", 3600), ("minute", 60))
    parts: list[str] = []
    for name, size in units:
        amount, seconds = divmod(seconds, size)
        if amount or parts:
            parts.append(_plural(amount, name))
    parts.append(_plural(seconds, "second"))
    return ", ".join(parts)


def uptime_lines(uptime: int, last_reload: int) -> list[str]:
    return [f"System uptime: {format_duration(uptime)}", f"Last reload: {format_duration(last_reload)}"]


def module_lines(pattern: str) -> list[str]:
    header = f"{'Module':<30} {'Description':<40} {'Use Count':<10} {'Status':<11} {'Support Level'}"
    rows = [
        f"{name:<30} {description:<40} {count:<10} {'Running':<11} {'core':>13}"
        for name, description, count in MANAGER_MODULES
        if pattern.lower() in name.lower() or pattern.lower() in description.lower()
    ]
    return [header, *rows, f"{len(rows)} modules loaded"]


def permission_mask(classes: frozenset[str]) -> int:
    """The numeric mask ``manager show connected`` prints (every class: 2147483647, like Asterisk's -1 & INT_MAX)."""
    if classes >= frozenset(CLASSES):
        return 2147483647
    return sum(1 << index for index, name in enumerate(CLASSES) if name in classes)


def connected_lines(sessions: Iterable[Session], current: Session) -> list[str]:
    line = "  {:<15.15}  {:<55.55}  {:<10.10}  {:<10.10}  {:<8.8}  {:<8.8}  {:<10.10}  {:<10.10}"
    lines = [
        line.format(
            "Username", "IP Address", "Start", "Elapsed", "FileDes", "HttpCnt", "ReadPerms", "WritePerms"
        )
    ]
    now = int(time.time())
    count = 0
    for session in sessions:
        start = int(session.created) if session.authenticated else 0
        user = session.user if session.authenticated else None
        read = permission_mask(user.read) if user else 0
        write = permission_mask(user.write) if user else 0
        lines.append(
            line.format(
                session.username if session.authenticated else "",
                session.remote[0],
                str(start),
                str(now - start),
                str(session.fd),
                "1" if session is current and session.is_http else "0",
                f"{read:010d}",
                f"{write:010d}",
            )
        )
        count += 1
    lines.append(f"{count} users connected.")
    return lines


def channel_lines(rows: list[ChannelRow], processed: int) -> list[str]:
    line = "{:<20.20} {:<20.20} {:<7.7} {:<30.30}"
    lines = [line.format("Channel", "Location", "State", "Application(Data)")]
    lines += [line.format(row.channel, row.location, row.state, row.application) for row in rows]
    calls = len({row.linkedid or row.channel for row in rows})
    lines.append(_plural(len(rows), "active channel"))
    lines.append(_plural(calls, "active call"))
    lines.append(f"{_plural(processed, 'call')} processed")
    return lines


def best_match(words: list[str]) -> str:
    """The hint of Asterisk's "No such command" message (``find_best`` in main/cli.c)."""
    taken: list[str] = []
    for word in words:
        taken.append(word)
        if not _partial_match(taken):
            break
    return " ".join(taken)


def _partial_match(words: list[str]) -> bool:
    lowered = [word.lower() for word in words]
    for command in KNOWN_COMMANDS:
        if len(command) == len(lowered) and list(command[:-1]) == lowered[:-1]:
            return True
    return False


def unknown_command_line(command: str) -> str:
    return (
        f"No such command '{command}' (type 'core show help {best_match(command.split())}' "
        "for other possible commands)"
    )
