"""What a gateway process needs to know: the PBX, the database, where to listen, and its policies.

Settings are plain data (no secrets are ever rendered: :meth:`GatewaySettings.describe` is the form for
logs). The PBX URL holds the manager secret; it is only ever handed to :func:`ajam.client.create_client`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ajam.client.url import parse_url

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
STATIC_DIR = Path(__file__).with_name("static")


@dataclass(frozen=True)
class DialSettings:
    """How click-to-call reaches the agent's phone (see :func:`ajam.calls.click_to_call.click_to_call`)."""

    channel_template: str = "PJSIP/{extension}"
    context: str = "agents"
    prefix: str = "8"
    ring_timeout: float = 30.0


@dataclass(frozen=True)
class GatewaySettings:
    pbx_url: str = field(repr=False)
    db: str | None = None  # journal location (path, sqlite:///, postgresql://); None → the default file
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    bus_url: str | None = None  # redis://... for several gateway processes
    bus_prefix: str = "ajam"  # Redis key prefix: one group of gateway processes sharing one PBX
    bus_lock_ttl: float = 5.0  # seconds before a dead leader's lock expires and another process leads
    recordings_dir: Path | None = None
    contact_url: str | None = None  # e.g. "https://crm.example/clients?phone={number}"
    static_dir: Path = STATIC_DIR
    secure_cookies: bool = False  # Secure flag on the session cookie (set it behind HTTPS)
    session_ttl: float = 12 * 3600.0
    login_failures: int = 5  # failed logins per username + client address ...
    login_window: float = 60.0  # ... within this many seconds → 429
    dial: DialSettings = field(default_factory=DialSettings)
    dial_results_kept: int = 1000
    queue_publish_delay: float = 0.2  # queue events within this many seconds share one board push
    stats_period: float = 86_400.0  # journal figures of the board: the last day

    def __post_init__(self) -> None:
        parse_url(self.pbx_url)  # fail early on a bad URL (InvalidUrl never shows the secret)

    def describe(self) -> str:
        """One line for logs: the PBX without its secret."""
        pbx = parse_url(self.pbx_url).redacted()
        return f"gateway on http://{self.host}:{self.port} for {pbx}"


def parse_listen(text: str) -> tuple[str, int]:
    """``127.0.0.1:8000``, ``:8000`` (loopback) or ``[::1]:8000`` → (host, port)."""
    host, sep, port_text = text.rpartition(":")
    if not sep:
        raise ValueError(f"listen address {text!r} needs a port, e.g. 127.0.0.1:8000")
    host = host.strip("[]") or DEFAULT_HOST
    try:
        port = int(port_text)
    except ValueError:
        raise ValueError(f"listen address {text!r}: port {port_text!r} is not a number") from None
    if not 0 <= port <= 65535:
        raise ValueError(f"listen address {text!r}: port out of range")
    return host, port
