"""``ajam doctor URL``: find out why a CRM cannot talk to the PBX, step by step, with a fix for each failure.

Checks, in order (a failed step skips the ones that depend on it):
host reachable → HTTP server answers (http URLs) / AMI banner (ami URLs) → manager published (not 404) →
login → permission classes for the CRM features (write classes probed with harmless actions that fail
validation *after* the permission check; read classes from ``manager show connected`` when Command is
allowed) → event delivery → keep-alive (the connection is reused).
"""

from __future__ import annotations

import asyncio
import json
import sys
from dataclasses import asdict, dataclass

import click
import httpx

from ajam.cli.exit_codes import CHECKS_FAILED, OK, USAGE
from ajam.client import ManagerClient, create_client, is_notice, parse_url
from ajam.client.http import AjamClient
from ajam.client.url import InvalidUrl, ManagerUrl
from ajam.errors import AjamError, AuthenticationFailed, ConnectionFailed, NotPublished, TransportMismatch
from ajam.protocol.http import NOT_PUBLISHED_ADVICE
from ajam.protocol.permissions import CLASSES, CRM_NEEDS

PASS, FAIL, WARN, SKIP = "pass", "fail", "warn", "skip"
_MARK = {PASS: "[ OK ]", FAIL: "[FAIL]", WARN: "[WARN]", SKIP: "[SKIP]"}

# A harmless probe per write class: each action is checked for permission first, then fails (or
# succeeds) without touching a call — Originate without Channel, Hangup without Channel.
WRITE_PROBES: dict[str, tuple[str, list[tuple[str, str]]]] = {
    "originate": ("Originate", []),
    "call": ("Hangup", []),
    "system": ("CoreShowChannels", []),
    "reporting": ("CoreShowChannels", []),
    "command": ("Command", [("Command", "core show version")]),
}


@dataclass
class Check:
    name: str
    status: str
    detail: str = ""
    fix: str = ""


class Doctor:
    def __init__(self, url: ManagerUrl, event_wait: float) -> None:
        self.url = url
        self.event_wait = event_wait
        self.checks: list[Check] = []

    def add(self, name: str, status: str, detail: str = "", fix: str = "") -> bool:
        self.checks.append(Check(name, status, detail, fix))
        return status != FAIL

    def skip(self, *names: str) -> None:
        for name in names:
            self.add(name, SKIP, "skipped: an earlier check failed")

    async def run(self) -> list[Check]:
        later = ["manager published", "login", "permissions", "event delivery", "keep-alive"]
        if not await self.check_reachable():
            self.skip("server answers", *later)
            return self.checks
        if not await self.check_server():
            self.skip(*later)
            return self.checks
        client = create_client(
            self.url, **({} if self.url.is_http else {"keepalive": None, "reconnect": False})
        )
        stream = client.events()
        try:
            if not await self.check_login(client):
                self.skip(*later[2:])
                return self.checks
            await self.check_permissions(client)
            await self.check_events(client, stream)
            await self.check_keepalive(client)
        finally:
            stream.close()
            await client.close()
        return self.checks

    async def check_reachable(self) -> bool:
        name = "host reachable"
        try:
            _, writer = await asyncio.wait_for(asyncio.open_connection(self.url.host, self.url.port), 5)
        except (OSError, TimeoutError) as error:
            service = (
                "http.conf: enabled = yes, bindport"
                if self.url.is_http
                else "manager.conf: enabled = yes, port"
            )
            return self.add(
                name,
                FAIL,
                f"{self.url.host_port}: {getattr(error, 'strerror', None) or error or 'timed out'}",
                f"is Asterisk running and listening on {self.url.host_port}? Check {service}, bindaddr "
                "(0.0.0.0 to accept remote clients) and the firewall",
            )
        writer.close()
        return self.add(name, PASS, f"TCP connection to {self.url.host_port} accepted")

    async def check_server(self) -> bool:
        if not self.url.is_http:
            return await self._check_banner()
        endpoint = self.url.endpoint
        assert endpoint is not None
        target = f"{self.url.scheme}://{self.url.host_port}{endpoint.path}"
        try:
            async with httpx.AsyncClient(verify=True, timeout=5) as http:
                response = await http.get(target, params={"action": "Ping"})
        except httpx.HTTPError as error:
            other = "http://" if self.url.tls else "https:// (or ami:// if this is the AMI port)"
            return self.add(
                "server answers",
                FAIL,
                f"no HTTP answer: {error or type(error).__name__}",
                f"check that this port runs Asterisk's HTTP server; maybe use {other}",
            )
        server = response.headers.get("server", "unknown server")
        self.add("server answers", PASS, f"HTTP {response.status_code} from {server}")
        if response.status_code == 404:
            return self.add(
                "manager published",
                FAIL,
                f"{endpoint.path} answers 404 Not Found",
                NOT_PUBLISHED_ADVICE.format(path=endpoint.path),
            )
        return self.add("manager published", PASS, f"{endpoint.path} is served (HTTP {response.status_code})")

    async def _check_banner(self) -> bool:
        name = "server answers"
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(self.url.host, self.url.port), 5)
            try:
                line = await asyncio.wait_for(reader.readline(), 3)
            finally:
                writer.close()
        except (OSError, TimeoutError):
            line = b""
        if line.startswith(b"Asterisk Call Manager/"):
            self.add(name, PASS, line.decode(errors="replace").strip())
            return self.add("manager published", PASS, "the AMI port greets with its banner")
        hint = (
            "use http:// for an HTTP port"
            if line.startswith(b"HTTP/")
            else ("use amis:// for a TLS port" if self.url.scheme == "ami" else "check the port")
        )
        self.add(
            name,
            FAIL,
            f"no AMI banner (got {line[:40]!r})",
            f"{hint}; the AMI port is set in manager.conf [general] port (default 5038)",
        )
        self.skip("manager published")
        return False

    async def check_login(self, client: ManagerClient) -> bool:
        try:
            await client.connect()
        except AuthenticationFailed as error:
            return self.add(
                "login",
                FAIL,
                str(error),
                f"check the [{self.url.username}] section of manager.conf (secret, permit/deny "
                "ACLs) and run 'manager reload'",
            )
        except NotPublished as error:
            return self.add("login", FAIL, str(error), NOT_PUBLISHED_ADVICE.format(path=self.url.redacted()))
        except TransportMismatch as error:
            return self.add("login", FAIL, str(error), "use the URL scheme that matches this port")
        except ConnectionFailed as error:
            return self.add("login", FAIL, str(error), "check host, port and network")
        except AjamError as error:
            return self.add("login", FAIL, str(error), "see the error above")
        return self.add("login", PASS, f"logged in as {self.url.username}")

    async def check_permissions(self, client: ManagerClient) -> None:
        write_ok: dict[str, bool] = {}
        for klass, (action, headers) in WRITE_PROBES.items():
            reply = await client.send(action, headers, check=False)
            write_ok[klass] = reply.response.message.lower() != "permission denied"
        read = await self._read_classes(client, write_ok.get("command", False))
        missing_features: list[str] = []
        for feature, (read_needed, write_needed) in CRM_NEEDS.items():
            if write_needed and not any(write_ok.get(k, False) for k in write_needed):
                missing_features.append(f"{feature}: needs write={' or '.join(write_needed)}")
            if read_needed and read is not None and not read.intersection(read_needed):
                missing_features.append(f"{feature}: needs read={','.join(read_needed)}")
        granted = sorted(k for k, ok in write_ok.items() if ok)
        detail = f"write classes that work: {', '.join(granted) or 'none'}"
        if read is not None:
            detail += f"; read classes: {', '.join(sorted(read)) or 'none'}"
        if missing_features:
            self.add(
                "permissions",
                FAIL,
                detail + "; missing: " + "; ".join(missing_features),
                f"in manager.conf [{self.url.username}] set e.g. read = system,call,agent,user and "
                "write = system,call,originate,command,reporting, then 'manager reload'",
            )
        elif read is None:
            self.add(
                "permissions",
                WARN,
                detail + "; read classes could not be checked (Command not allowed)",
                f"make sure [{self.url.username}] in manager.conf has read = call,agent",
            )
        else:
            self.add("permissions", PASS, detail)

    async def _read_classes(self, client: ManagerClient, command_allowed: bool) -> frozenset[str] | None:
        if not command_allowed:
            return None
        reply = await client.send("Command", [("Command", "manager show connected")], check=False)
        for line in reply.output:
            fields = line.split()
            if len(fields) >= 8 and fields[0] == self.url.username and fields[-2].isdigit():
                mask = int(fields[-2])
                return frozenset(name for index, name in enumerate(CLASSES) if mask & (1 << index))
        return None

    async def check_events(self, client: ManagerClient, stream: object) -> None:
        from ajam.client.base import EventStream

        assert isinstance(stream, EventStream)
        await client.send("UserEvent", [("UserEvent", "AjamDoctor")], check=False)
        loop = asyncio.get_running_loop()
        started = loop.time()
        deadline = started + self.event_wait
        while (remaining := deadline - loop.time()) > 0:
            try:
                event = await asyncio.wait_for(stream.__anext__(), remaining)
            except (TimeoutError, StopAsyncIteration):
                break
            if not is_notice(event):
                how = "WaitEvent" if self.url.is_http else "the TCP stream"
                self.add(
                    "event delivery",
                    PASS,
                    f"{event.name} received over {how} after {loop.time() - started:.2f} s",
                )
                return
        self.add(
            "event delivery",
            FAIL,
            f"no event within {self.event_wait:g} s",
            f"give [{self.url.username}] read classes (e.g. read = system,call,agent,user) and keep "
            "events on (Events: on); over HTTP the same session must poll WaitEvent",
        )

    async def check_keepalive(self, client: ManagerClient) -> None:
        for _ in range(3):
            await client.send("Ping", check=False)
        if isinstance(client, AjamClient):
            count = client.stats.http_connections
            if count <= 1:
                self.add("keep-alive", PASS, "every action went over one kept-alive HTTP connection")
            else:
                self.add(
                    "keep-alive",
                    FAIL,
                    f"actions used {count} HTTP connections",
                    "a proxy may close connections: allow HTTP/1.1 keep-alive; Asterisk keeps idle "
                    "connections for session_keep_alive ms (http.conf)",
                )
            return
        if client.stats.disconnects == 0 and client.connected:
            self.add("keep-alive", PASS, "the TCP session stayed up and answers Ping")
        else:
            self.add(
                "keep-alive",
                FAIL,
                "the TCP session dropped",
                "check firewalls/NAT that cut idle connections; keep-alive Pings are sent every 20 s",
            )


def render(checks: list[Check]) -> str:
    lines = []
    for check in checks:
        lines.append(f"{_MARK[check.status]} {check.name}: {check.detail}".rstrip(": "))
        if check.status in (FAIL, WARN) and check.fix:
            lines.append(f"       fix: {check.fix}")
    return "\n".join(lines)


@click.command()
@click.argument("url")
@click.option("--json", "as_json", is_flag=True, help="Print the checklist as JSON.")
@click.option("--event-wait", default=5.0, show_default=True, help="Seconds to wait for an event.")
def doctor(url: str, as_json: bool, event_wait: float) -> None:
    """Check, step by step, that URL can serve a CRM; prints a fix for each failure (exit 0: all pass)."""
    try:
        parsed = parse_url(url)
    except InvalidUrl as error:
        click.echo(f"ajam: {error}", err=True)
        sys.exit(USAGE)
    checks = asyncio.run(Doctor(parsed, event_wait).run())
    if as_json:
        click.echo(
            json.dumps({"url": parsed.redacted(), "checks": [asdict(c) for c in checks]}, ensure_ascii=False)
        )
    else:
        click.echo(f"ajam doctor {parsed.redacted()}")
        click.echo(render(checks))
    sys.exit(OK if all(c.status in (PASS, WARN) for c in checks) else CHECKS_FAILED)
