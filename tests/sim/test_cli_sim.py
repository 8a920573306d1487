"""``ajam sim`` as a subprocess: prints the URLs, serves AMI on them, stops on Ctrl-C (SIGINT)."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
import time

import pytest
from click.testing import CliRunner

from ajam.cli.sim import sim

pytestmark = pytest.mark.timeout(30)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_sim_command_serves_until_interrupted() -> None:
    ami_port, http_port = _free_port(), _free_port()
    command = [sys.executable, "-c", "from ajam.cli.sim import sim; sim()", "--ami-port", str(ami_port),
               "--http-port", str(http_port), "--speed", "50", "--scenario", "originate_answered"]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        assert first.strip() == f"AMI:     ami://admin:s3cret@127.0.0.1:{ami_port}"
        lines = [process.stdout.readline().strip() for _ in range(3)]
        assert lines[0] == f"rawman:  http://admin:s3cret@127.0.0.1:{http_port}/asterisk/rawman"
        assert re.fullmatch(r"arawman: http://admin:s3cret@127\.0\.0\.1:\d+/asterisk/arawman", lines[2])
        with socket.create_connection(("127.0.0.1", ami_port), timeout=5) as conn:
            assert conn.recv(100) == b"Asterisk Call Manager/11.0.0\r\n"
        process.send_signal(signal.SIGINT)
        deadline = time.monotonic() + 10
        while process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert process.returncode == 0
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate()


def test_unknown_scenario_is_a_usage_error() -> None:
    result = CliRunner().invoke(sim, ["--scenario", "no_such_call"])
    assert result.exit_code == 2
    assert "unknown scenario no_such_call" in result.output
