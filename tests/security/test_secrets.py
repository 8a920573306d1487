"""No secret in any output or log line: CLI commands at ``-vv`` and gateway requests at DEBUG.

Secrets looked for: the manager secret, the MD5 login key actually sent (recorded at the simulator),
gateway user passwords and API tokens. Successful runs and failures (wrong secret, unreachable PBX, HTTP
404) are both covered, since error paths are where secrets tend to slip into messages.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from ajam.sim.config import DEFAULT_USERS
from ajam.sim.server import SimulatedPbx, running_simulator
from tests.gateway.gateway_app import running_gateway
from tests.security.test_injection import Recorder

SECRET = "Mgr-Secret-7fQx2"
WRONG_SECRET = "Wrong-Secret-9kLm"


@pytest.fixture(scope="module")
def sim() -> Iterator[SimulatedPbx]:
    users = {"admin": dataclasses.replace(DEFAULT_USERS["admin"], secret=SECRET)}
    with running_simulator(users=users, login_failure_delay=0.0) as pbx:
        yield pbx


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def not_found_server() -> Iterator[int]:
    """An HTTP server answering 404 to everything (a web server where /asterisk is not published)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    stop = threading.Event()

    def serve() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            with connection:
                connection.settimeout(2)
                with contextlib.suppress(OSError):
                    connection.recv(65536)
                    connection.sendall(
                        b"HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\nConnection: close\r\n\r\nnot found"
                    )

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield int(listener.getsockname()[1])
    finally:
        stop.set()
        thread.join(5)
        listener.close()


def run_cli(*args: str, env: dict[str, str] | None = None) -> str:
    completed = subprocess.run(
        [sys.executable, "-c", "from ajam.cli.main import main; main()", "-vv", *args],
        capture_output=True,
        check=False,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
    )
    return f"[exit {completed.returncode}]\n{completed.stdout}\n{completed.stderr}"


def test_cli_never_prints_a_secret(sim: SimulatedPbx) -> None:
    recorder = Recorder(sim)
    ami = f"127.0.0.1:{sim.ami_port}"
    http = f"127.0.0.1:{sim.http_port}"
    dead = f"127.0.0.1:{free_port()}"
    with not_found_server() as missing:
        runs = {
            "ami ok": run_cli("send", f"ami://admin:{SECRET}@{ami}", "Ping"),
            "ami md5 ok": run_cli("send", f"ami://admin:{SECRET}@{ami}?auth=md5", "Ping"),
            "rawman ok": run_cli(
                "send", f"http://admin:{SECRET}@{http}/asterisk/rawman", "CoreStatus", "--json"
            ),
            "mxml ok": run_cli("send", f"http://admin:{SECRET}@{http}/asterisk/mxml", "Ping"),
            "html ok": run_cli("send", f"http://admin:{SECRET}@{http}/asterisk/manager", "Ping"),
            "env secret": run_cli(
                "send", f"ami://{ami}", "Ping", env={"AJAM_USERNAME": "admin", "AJAM_SECRET": SECRET}
            ),
            "events": run_cli("events", f"ami://admin:{SECRET}@{ami}", "--seconds", "0.3"),
            "doctor": run_cli("doctor", f"ami://admin:{SECRET}@{ami}"),
            "action fails": run_cli("send", f"ami://admin:{SECRET}@{ami}", "Originate", "Channel=Nope/1"),
            "ami wrong": run_cli("send", f"ami://admin:{WRONG_SECRET}@{ami}", "Ping"),
            "ami md5 wrong": run_cli("send", f"ami://admin:{WRONG_SECRET}@{ami}?auth=md5", "Ping"),
            "rawman wrong": run_cli("send", f"http://admin:{WRONG_SECRET}@{http}/asterisk/rawman", "Ping"),
            "ami unreachable": run_cli("send", f"ami://admin:{SECRET}@{dead}", "Ping"),
            "http unreachable": run_cli("send", f"http://admin:{SECRET}@{dead}/asterisk/rawman", "Ping"),
            "http 404": run_cli("send", f"http://admin:{SECRET}@127.0.0.1:{missing}/asterisk/rawman", "Ping"),
            "wrong transport": run_cli("send", f"http://admin:{SECRET}@{ami}/asterisk/rawman", "Ping"),
        }
    assert (
        "[exit 0]" in runs["ami ok"] and "[exit 0]" in runs["ami md5 ok"] and "[exit 0]" in runs["rawman ok"]
    )
    assert "[exit 3]" in runs["ami wrong"] and "[exit 4]" in runs["ami unreachable"], runs
    assert "DEBUG" in runs["ami ok"], "-vv logs at DEBUG"
    md5_keys = {str(m.get("Key")) for m in recorder.messages if m.get("Key")}
    assert md5_keys, "the MD5 logins were seen at the simulator"
    secrets = {SECRET, WRONG_SECRET, *md5_keys}
    leaks = [(name, secret) for name, text in runs.items() for secret in secrets if secret in text]
    assert leaks == [], leaks


async def test_gateway_never_shows_a_secret(tmp_path: Path) -> None:
    async with running_gateway(tmp_path) as gateway:
        anonymous = gateway.client()
        await anonymous.post("/api/login", json={"username": "admin", "password": WRONG_SECRET})
        await anonymous.post(
            "/api/login", json={"username": "nobody", "password": gateway.passwords["admin"]}
        )
        await anonymous.get("/api/nowhere")
        admin = await gateway.login("admin")
        operator = await gateway.login("op101")
        created = await admin.post("/api/admin/tokens", json={"name": "crm", "role": "admin"})
        token = created.json()["token"]
        crm = await gateway.bearer(token)
        await crm.get("/api/me")
        await gateway.bearer(token + "x")  # a wrong token is still a token-shaped secret
        bad = gateway.client({"Authorization": f"Bearer {token}x"})
        assert (await bad.get("/api/me")).status_code == 401
        responses = [
            await admin.post("/api/admin/action", json={"action": "Ping", "headers": {}}),
            await admin.post(
                "/api/admin/action", json={"action": "Originate", "headers": {"Channel": "Nope/1"}}
            ),
            await admin.post("/api/admin/action", json={"action": "Login", "headers": {"Secret": "x"}}),
            await admin.get("/api/admin/users"),
            await admin.post(
                "/api/admin/users", json={"username": "new", "password": WRONG_SECRET, "role": "operator"}
            ),
            await operator.post("/api/dial", json={"to": "5551234"}),
            await operator.post("/api/sms", json={"to": "101", "body": "hi"}),
            await operator.get("/api/journal"),
            await crm.get("/api/queues"),
            await operator.get("/api/recordings/nope"),
        ]
        await asyncio.sleep(0.2)
        assert responses[0].status_code == 200
        assert any(line for line in gateway.logs.lines if " DEBUG " in line), "DEBUG logs were captured"
        gateway.secrets.add(WRONG_SECRET)
        assert gateway.leaked() == []
