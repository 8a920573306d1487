"""Manager permission classes (``read``/``write`` in manager.conf) and what each action needs.

An action is allowed when the user's *write* classes share at least one class with the action's
classes (Asterisk's ``manager.c`` checks ``(writeperm & authority) || authority == 0``). An event reaches a user
when the event's class (its ``Privilege`` header) is among the user's *read* classes.
"""

from __future__ import annotations

CLASSES = (
    "system", "call", "log", "verbose", "command", "agent", "user", "config", "dtmf", "reporting",
    "cdr", "dialplan", "originate", "agi", "cc", "aoc", "test", "security", "message",
)  # fmt: skip

ACTION_CLASSES: dict[str, tuple[str, ...]] = {
    "ping": (), "login": (), "logoff": (), "challenge": (), "events": (), "waitevent": (),
    "listcommands": (), "queuestatus": (), "queuesummary": (),
    "command": ("command",),
    "originate": ("originate",),
    "hangup": ("system", "call"),
    "redirect": ("call",), "atxfer": ("call",), "blindtransfer": ("call",),
    "setvar": ("call",), "getvar": ("call", "reporting"),
    "status": ("system", "call", "reporting"),
    "coresettings": ("system", "reporting"), "corestatus": ("system", "reporting"),
    "coreshowchannels": ("system", "reporting"), "coreshowchannelmap": ("system", "reporting"),
    "filter": ("system",),
    "mixmonitor": ("system", "call"), "stopmixmonitor": ("system", "call"),
    "messagesend": ("message",),
    "devicestatelist": ("call", "reporting"), "extensionstate": ("call", "reporting"),
    "queueadd": ("agent",), "queueremove": ("agent",), "queuepause": ("agent",), "queuepenalty": ("agent",),
    "pjsipshowendpoints": ("system",), "sippeers": ("system", "reporting"),
    "userevent": ("user",), "reload": ("system", "config"), "getconfig": ("system", "config"),
    "absolutetimeout": ("system", "call"), "playdtmf": ("call",), "sendtext": ("call",),
    "bridgelist": ("reporting",), "bridgeinfo": ("reporting",),
}  # fmt: skip

# What a CRM integration needs, for ``ajam doctor``: feature → (read classes, write classes).
CRM_NEEDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "call events (incoming-call notification, call outcome)": (("call",), ()),
    "queue events (call-center view)": (("agent",), ()),
    "click-to-call (Originate)": ((), ("originate",)),
    "hang up / transfer calls": ((), ("call",)),
    "list live channels (CoreShowChannels)": ((), ("system", "reporting")),
    "CLI commands (Command)": ((), ("command",)),
}


def parse_classes(text: str) -> frozenset[str]:
    """``"system,call"`` → classes; ``all`` expands to every class; unknown names are ignored."""
    names = {part.strip().lower() for part in text.split(",") if part.strip()}
    if "all" in names:
        return frozenset(CLASSES)
    return frozenset(name for name in names if name in CLASSES)


def required_classes(action: str) -> tuple[str, ...]:
    """Classes of which the user needs at least one to run ``action`` (empty: anyone logged in)."""
    return ACTION_CLASSES.get(action.lower(), ())


def may_write(action: str, write: frozenset[str]) -> bool:
    needed = required_classes(action)
    return not needed or bool(write.intersection(needed))


def event_class(privilege: str) -> frozenset[str]:
    """Classes named in an event's ``Privilege`` header (``call,all`` → ``{call}``)."""
    return frozenset(part.strip().lower() for part in privilege.split(",") if part.strip() not in ("", "all"))


def may_read(privilege: str, read: frozenset[str]) -> bool:
    classes = event_class(privilege)
    return not classes or bool(read.intersection(classes))
