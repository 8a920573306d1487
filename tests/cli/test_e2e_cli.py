"""The CLI against the real simulator (in a thread), through click's runner and one real subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from click.testing import CliRunner

import ajam.sim.server as server_module
from ajam.cli import exit_codes
from ajam.cli.main import main


@pytest.fixture(scope="module")
def sim() -> Iterator[Any]:
    with server_module.running_simulator(login_failure_delay=0.0) as running:
        yield running


def invoke(*args: str) -> Any:
    return CliRunner().invoke(main, list(args))


@pytest.mark.parametrize("kind", ["ami", "rawman", "mxml"])
def test_send_json_against_the_simulator(sim: Any, kind: str) -> None:
    result = invoke("send", sim.url(kind), "CoreShowChannels", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["response"]["Response"] == "Success"
    assert data["events"][-1]["Event"] == "CoreShowChannelsComplete"


def test_send_permission_denied_exits_5(sim: Any) -> None:
    result = invoke("send", sim.url("rawman", "limited"), "Command", "Command=core show version")
    assert result.exit_code == exit_codes.ACTION_FAILED


def test_events_count_and_json_lines(sim: Any) -> None:
    def publish_soon() -> None:
        for index in range(3):
            sim.call_soon(
                sim.publish,
                [("Event", "UserEvent"), ("Privilege", "user,all"), ("UserEvent", f"cli-{index}")],
            ).result(5)

    timer = threading.Timer(0.5, publish_soon)
    timer.start()
    try:
        result = invoke(
            "events", sim.url("ami"), "--json", "--filter", "UserEvent", "--count", "3", "--seconds", "10"
        )
    finally:
        timer.join()
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["UserEvent"] for line in lines] == ["cli-0", "cli-1", "cli-2"]


def test_events_stops_after_seconds(sim: Any) -> None:
    result = invoke("events", sim.url("rawman"), "--filter", "NoSuchEvent", "--seconds", "0.5")
    assert result.exit_code == 0
    assert result.stdout == ""


@pytest.mark.parametrize("kind", ["ami", "rawman"])
def test_doctor_on_a_good_simulator(sim: Any, kind: str) -> None:
    result = invoke("doctor", sim.url(kind), "--json", "--event-wait", "3")
    data = json.loads(result.stdout)
    statuses = {check["name"]: check["status"] for check in data["checks"]}
    assert result.exit_code == 0, result.stdout
    assert list(statuses) == [
        "host reachable",
        "server answers",
        "manager published",
        "login",
        "permissions",
        "event delivery",
        "keep-alive",
    ]
    assert set(statuses.values()) == {"pass"}
    assert "s3cret" not in result.stdout


def test_doctor_on_a_limited_user_explains_the_missing_classes(sim: Any) -> None:
    result = invoke("doctor", sim.url("ami", "limited"), "--event-wait", "0.5")
    assert result.exit_code == exit_codes.CHECKS_FAILED
    assert "[FAIL] permissions" in result.stdout
    assert "fix: in manager.conf [limited]" in result.stdout


def test_doctor_on_webenabled_no() -> None:
    with server_module.running_simulator(webenabled=False) as sim:
        result = invoke("doctor", sim.url("rawman"))
    assert result.exit_code == exit_codes.CHECKS_FAILED
    assert "[FAIL] manager published" in result.stdout
    assert "webenabled = yes" in result.stdout
    assert "[SKIP] login" in result.stdout


def test_doctor_on_a_closed_port() -> None:
    result = invoke("doctor", "ami://admin:s3cret@127.0.0.1:1")
    assert result.exit_code == exit_codes.CHECKS_FAILED
    assert "[FAIL] host reachable" in result.stdout


def test_entry_point_in_a_subprocess(sim: Any) -> None:
    completed = subprocess.run(
        [
            sys.executable,
            "-c",
            "from ajam.cli.main import main; main()",
            "send",
            sim.url("ami"),
            "Ping",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert json.loads(completed.stdout)["response"]["Ping"] == "Pong"


@pytest.mark.parametrize("kind", ["ami", "rawman"])
def test_verbose_logging_never_prints_the_secret(sim: Any, kind: str) -> None:
    completed = subprocess.run(
        [
            sys.executable,
            "-c",
            "from ajam.cli.main import main; main()",
            "-vv",
            "send",
            sim.url(kind),
            "Ping",
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert "DEBUG" in completed.stderr
    assert "s3cret" not in completed.stderr + completed.stdout
