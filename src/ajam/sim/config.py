"""The simulator's manager.conf: ``[general]`` settings and one section per manager user.

Reads the same file a real Asterisk reads (``;`` comments, ``key = value`` or ``key => value``),
keeping only what the simulated manager uses: ``port``, ``bindaddr``, ``webenabled``, ``httptimeout``,
``authtimeout`` and, per user, ``secret``, ``read``, ``write``, ``permit``/``deny``.

``permit``/``deny`` follow Asterisk's ACL rule: the rules are tried in order, the *last* one whose
network contains the peer address decides, and an address no rule matches is allowed.

Without a file the simulator uses the users of the ground-truth captures (``shared/asterisk``):
``admin``/``s3cret`` (read=all, write=all) and ``limited``/``limited1`` (read=call, write=originate),
both restricted to 127.0.0.1.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from pathlib import Path

from ajam.protocol.permissions import parse_classes

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

TRUE_WORDS = frozenset({"yes", "true", "y", "t", "1", "on"})


@dataclass(frozen=True)
class AclRule:
    allow: bool
    network: Network


@dataclass(frozen=True)
class User:
    """One manager account (a manager.conf section other than ``[general]``)."""

    name: str
    secret: str
    read: frozenset[str] = frozenset()
    write: frozenset[str] = frozenset()
    acl: tuple[AclRule, ...] = ()

    def allows(self, address: str) -> bool:
        """Whether a connection from ``address`` may log in as this user."""
        try:
            peer = ipaddress.ip_address(address)
        except ValueError:
            return False
        allowed = True
        for rule in self.acl:
            if peer.version == rule.network.version and peer in rule.network:
                allowed = rule.allow
        return allowed

    def __repr__(self) -> str:  # never show the secret
        return f"User(name={self.name!r}, read={sorted(self.read)}, write={sorted(self.write)})"


@dataclass(frozen=True)
class ManagerConfig:
    port: int = 5038
    bindaddr: str = "127.0.0.1"
    webenabled: bool = True
    httptimeout: int = 60
    authtimeout: int = 30
    users: dict[str, User] = field(default_factory=dict)

    def user(self, name: str) -> User | None:
        return self.users.get(name.lower())


def parse_network(text: str) -> Network:
    """``127.0.0.1/255.255.255.255``, ``10.0.0.0/8`` or a bare address."""
    return ipaddress.ip_network(text.strip(), strict=False)


def parse_manager_conf(text: str) -> ManagerConfig:
    """Parse manager.conf text (unknown keys are ignored, as Asterisk does with a warning)."""
    general: dict[str, str] = {}
    users: dict[str, User] = {}
    section: str | None = None
    values: dict[str, str] = {}
    acl: list[AclRule] = []

    def close_section() -> None:
        if section is None or section.lower() == "general":
            return
        users[section.lower()] = User(
            name=section,
            secret=values.get("secret", ""),
            read=parse_classes(values.get("read", "")),
            write=parse_classes(values.get("write", "")),
            acl=tuple(acl),
        )

    for raw in text.splitlines():
        line = raw.split(";", 1)[0].strip()
        if not line:
            continue
        if line.startswith("[") and "]" in line:
            close_section()
            section = line[1 : line.index("]")].strip()
            values, acl = {}, []
            continue
        key, sep, value = line.partition("=")
        if not sep:
            continue
        key = key.strip().lower()
        value = value.lstrip(">").strip()
        if section is None:
            continue
        if section.lower() == "general":
            general[key] = value
        elif key in ("permit", "deny"):
            acl.append(AclRule(key == "permit", parse_network(value)))
        else:
            values[key] = value
    close_section()
    return ManagerConfig(
        port=int(general.get("port", "5038")),
        bindaddr=general.get("bindaddr", "127.0.0.1"),
        webenabled=general.get("webenabled", "no").lower() in TRUE_WORDS,
        httptimeout=int(general.get("httptimeout", "60")),
        authtimeout=int(general.get("authtimeout", "30")),
        users=users,
    )


def load_manager_conf(path: str | Path) -> ManagerConfig:
    return parse_manager_conf(Path(path).read_text(encoding="utf-8"))


_LOOPBACK_ONLY = (
    AclRule(False, parse_network("0.0.0.0/0.0.0.0")),
    AclRule(True, parse_network("127.0.0.1/255.255.255.255")),
)

DEFAULT_USERS: dict[str, User] = {
    "admin": User("admin", "s3cret", parse_classes("all"), parse_classes("all"), _LOOPBACK_ONLY),
    "limited": User("limited", "limited1", parse_classes("call"), parse_classes("originate"), _LOOPBACK_ONLY),
}


def default_config() -> ManagerConfig:
    """The configuration of the captures: see the module docstring."""
    return ManagerConfig(users=dict(DEFAULT_USERS))
