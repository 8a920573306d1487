"""``ajam users``, ``ajam serve`` and ``ajam demo`` as a user runs them (subprocesses on free ports)."""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from click.testing import CliRunner

from ajam.cli.main import main
from ajam.sim.server import running_simulator

URL = re.compile(r"(http://127\.0\.0\.1:\d+/)")


def test_users_add_list_passwd_delete(tmp_path: Path) -> None:
    db = str(tmp_path / "calls.db")
    runner = CliRunner()
    added = runner.invoke(
        main,
        ["users", "add", "admin", "--role", "admin", "--password-stdin", "--db", db],
        input="first-admin-pw\n",
    )
    assert added.exit_code == 0, added.output
    assert "first-admin-pw" not in added.output
    operator = [
        "users",
        "add",
        "ivan",
        "--role",
        "operator",
        "--extension",
        "101",
        "--password-stdin",
        "--db",
        db,
    ]
    assert runner.invoke(main, operator, input="ivan-password\n").exit_code == 0
    assert runner.invoke(main, operator, input="ivan-password\n").exit_code == 2  # exists already
    no_extension = ["users", "add", "olga", "--role", "operator", "--password-stdin", "--db", db]
    assert runner.invoke(main, no_extension, input="olga-password\n").exit_code == 2
    assert (
        runner.invoke(
            main, ["users", "add", "x", "--role", "admin", "--password-stdin", "--db", db], input="short\n"
        ).exit_code
        == 2
    )
    listed = runner.invoke(main, ["users", "list", "--db", db])
    assert listed.stdout.splitlines() == ["admin\tadmin\t", "ivan\toperator\t101"]
    passwd = runner.invoke(
        main, ["users", "passwd", "ivan", "--password-stdin", "--db", db], input="new-password\n"
    )
    assert passwd.exit_code == 0
    assert runner.invoke(main, ["users", "delete", "ivan", "--db", db]).exit_code == 0
    assert runner.invoke(main, ["users", "delete", "ivan", "--db", db]).exit_code == 2


@contextmanager
def ajam_process(*args: str) -> Iterator[tuple[subprocess.Popen[str], queue.Queue[str]]]:
    """``ajam ARGS`` with its output lines (stdout and stderr) in a queue; interrupted at the end."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [sys.executable, "-c", "from ajam.cli.main import main; main()", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.put(line)

    threading.Thread(target=pump, daemon=True).start()
    try:
        yield process, lines
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)


def read_until(
    lines: queue.Queue[str], pattern: re.Pattern[str], timeout: float = 30
) -> tuple[re.Match[str], str]:
    seen = ""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=0.2)
        except queue.Empty:
            continue
        seen += line
        found = pattern.search(seen)
        if found:
            return found, seen
    raise AssertionError(f"{pattern.pattern!r} not printed; output so far:\n{seen}")


def wait_connected(client: httpx.Client) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if client.get("/api/health").json()["pbx"] == "connected":
            return
        time.sleep(0.1)
    raise AssertionError("the gateway did not connect to the PBX")


def test_serve_against_the_simulator(tmp_path: Path) -> None:
    db = str(tmp_path / "calls.db")
    CliRunner().invoke(
        main,
        ["users", "add", "boss", "--role", "supervisor", "--password-stdin", "--db", db],
        input="boss-password\n",
    )
    with running_simulator(speed=20.0, login_failure_delay=0.0) as sim:
        pbx = sim.url("ami")
        with ajam_process("serve", "--pbx", pbx, "--db", db, "--listen", "127.0.0.1:0") as (process, lines):
            found, _ = read_until(lines, URL)
            with httpx.Client(base_url=found.group(1), timeout=10) as client:
                wait_connected(client)
                health = client.get("/api/health")
                assert "s3cret" not in health.text and str(sim.ami_port) not in health.text
                assert client.get("/api/calls/live").status_code == 401
                login = client.post("/api/login", json={"username": "boss", "password": "boss-password"})
                assert login.status_code == 200
                sim.call_soon(sim.pbx.run_scenario, "sip_inbound_answered_recorded").result(30)
                deadline = time.monotonic() + 10
                while client.get("/api/journal").json()["total"] < 1 and time.monotonic() < deadline:
                    time.sleep(0.1)
                assert client.get("/api/journal").json()["total"] == 1
                assert client.get("/").status_code == 200  # the web panel
            process.send_signal(signal.SIGINT)
            assert process.wait(15) == 0
        output = "".join(iter_queue(lines))
        assert "s3cret" not in output


def iter_queue(lines: queue.Queue[str]) -> Iterator[str]:
    while not lines.empty():
        yield lines.get_nowait()


def test_demo_smoke(tmp_path: Path) -> None:
    state = tmp_path / "demo"
    with ajam_process(
        "demo",
        "--listen",
        "127.0.0.1:0",
        "--state-dir",
        str(state),
        "--calls-per-minute",
        "120",
        "--seed",
        "7",
    ) as (process, lines):
        _, banner = read_until(lines, re.compile(r"Press Ctrl-C to stop\."))
        url = URL.search(banner)
        assert url is not None, banner
        accounts = dict(re.findall(r"^  (\w+)\s+(\S+)\s", banner, re.MULTILINE))
        assert {"operator", "supervisor", "admin"} <= set(accounts)
        with httpx.Client(base_url=url.group(1), timeout=10) as client:
            wait_connected(client)
            login = client.post(
                "/api/login", json={"username": "supervisor", "password": accounts["supervisor"]}
            )
            assert login.status_code == 200, login.text
            deadline = time.monotonic() + 40
            seen = False
            while not seen and time.monotonic() < deadline:
                live = client.get("/api/calls/live").json()["items"]
                journal = client.get("/api/journal").json()["items"]
                seen = bool(live or journal)
                time.sleep(0.2)
            assert seen, "no call appeared in the demo"
        process.send_signal(signal.SIGTERM)
        assert process.wait(15) == 0
    assert (state / "calls.db").exists()
