"""``ajam calls / dial / journal / sms / queues`` against captures and the running simulator."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import ajam.sim.server as server_module
from ajam.cli import exit_codes
from ajam.cli.journal import parse_moment
from ajam.cli.main import main
from tests.support.ami_stream import server_stream
from tests.support.transcripts import require_shared

SIP = "transcripts-sip/"


@pytest.fixture(scope="module")
def sim() -> Iterator[Any]:
    with server_module.running_simulator(login_failure_delay=0.0, speed=20.0) as running:
        yield running


def invoke(*args: str) -> Any:
    return CliRunner().invoke(main, list(args))


def capture_stream(tmp_path: Path, name: str) -> Path:
    """The S>C bytes of a shared capture, written as a raw AMI TCP stream file."""
    target = tmp_path / f"{Path(name).name}.ami"
    target.write_bytes(server_stream(require_shared() / f"{name}.txt"))
    return target


def test_replay_json_gives_the_call_of_the_capture(tmp_path: Path) -> None:
    stream = capture_stream(tmp_path, SIP + "sip_01_inbound_answered_recorded")
    result = invoke("calls", "--replay", str(stream), "--json")
    assert result.exit_code == 0, result.output
    (line,) = result.stdout.splitlines()
    call = json.loads(line)
    assert call["outcome"] == "answered" and call["direction"] == "inbound"
    assert call["caller"] == {"number": "79161234567", "name": "Мария Иванова"}
    assert call["answered_by"] == "101" and call["recording"].startswith("/var/spool/asterisk/monitor/")
    assert abs(call["talk_seconds"] - 6.0) < 0.5
    human = invoke("calls", "--replay", str(stream))
    assert "inbound 79161234567" in human.stdout and "answered by 101" in human.stdout


def test_replay_stores_then_journal_lists_missed_calls_as_csv(tmp_path: Path) -> None:
    db = str(tmp_path / "calls.db")
    for name in ("sip_01_inbound_answered_recorded", "sip_02_inbound_busy", "sip_03_inbound_noanswer"):
        result = invoke("calls", "--replay", str(capture_stream(tmp_path, SIP + name)), "--db", db)
        assert result.exit_code == 0, result.output
    result = invoke("journal", "--db", db, "--missed", "--csv", "--since", "2000-01-01")
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert sorted(row["outcome"] for row in rows) == ["busy", "no_answer"]
    assert {row["caller_number"] for row in rows} == {"79161234567"}
    listed = invoke("journal", "--db", db, "--json", "--outcome", "answered")
    (call,) = [json.loads(line) for line in listed.stdout.splitlines()]
    assert call["answered_by"] == "101"
    assert invoke("journal", "--db", db, "--until", "2026-11-01").stdout == ""  # captured on 2026-11-27
    later = invoke("journal", "--db", db, "--since", "2026-11-27T00:49:40+00:00").stdout.splitlines()
    assert [("no_answer" in line, " busy " in line) for line in later] == [(True, False), (False, True)]
    bad = invoke("journal", "--db", db, "--since", "last tuesday")
    assert bad.exit_code == exit_codes.USAGE and "not a time" in bad.output


def test_replay_needs_url_or_file() -> None:
    assert invoke("calls").exit_code == exit_codes.USAGE


def test_parse_moment() -> None:
    now = 1_700_000_000.0
    assert parse_moment("1h", now) == now - 3600 and parse_moment("7d", now) == now - 7 * 86400
    assert parse_moment("now", now) == now
    assert parse_moment("2024-05-01T10:00:00+00:00") == 1714557600.0
    today = parse_moment("today", now)
    assert 0 <= now - today < 86400 and parse_moment("yesterday", now) == pytest.approx(
        today - 86400, abs=3600
    )


def play_soon(sim: Any, *scenarios: str, delay: float = 0.8) -> threading.Thread:
    def play() -> None:
        time.sleep(delay)
        for scenario in scenarios:
            sim.call_soon(sim.pbx.run_scenario, scenario).result(30)

    thread = threading.Thread(target=play, daemon=True)
    thread.start()
    return thread


def test_calls_live_json_lines_in_a_subprocess(sim: Any, tmp_path: Path) -> None:
    db = tmp_path / "live.db"
    player = play_soon(sim, "sip_inbound_busy", "sip_internal", delay=1.5)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "from ajam.cli.main import main; main()",
            "calls",
            sim.url("ami"),
            "--json",
            "--db",
            str(db),
            "--seconds",
            "6",
            "--count",
            "2",
        ],
        check=False,
        capture_output=True,
        text=True,
        timeout=30,
        env=env,
    )
    player.join(10)
    assert done.returncode == 0, done.stderr
    calls = [json.loads(line) for line in done.stdout.splitlines()]
    assert [(c["outcome"], c["direction"]) for c in calls] == [
        ("busy", "inbound"),
        ("answered", "internal"),
    ], done.stderr
    stored = invoke("journal", "--db", str(db), "--json")
    assert sorted(json.loads(line)["id"] for line in stored.stdout.splitlines()) == sorted(
        c["id"] for c in calls
    )


@pytest.mark.parametrize("kind", ["ami", "rawman"])
def test_dial_answered_and_carrier_busy(sim: Any, kind: str) -> None:
    answered = invoke("dial", sim.url(kind), "--from", "101", "--to", "4951112233", "--json")
    assert answered.exit_code == exit_codes.OK, answered.output
    assert json.loads(answered.stdout)["status"] == "answered"
    busy = invoke("dial", sim.url(kind), "--from", "101", "--to", "4951110486")
    assert busy.exit_code == exit_codes.DIAL_BUSY, busy.output
    assert busy.stdout.startswith("busy: customer leg: busy")


def test_dial_refuses_line_breaks(sim: Any) -> None:
    result = invoke("dial", sim.url("ami"), "--from", "101", "--to", "49511\r\nAction: Hangup")
    assert result.exit_code == exit_codes.USAGE and "HeaderInjection" in result.output


def test_sms_and_queues(sim: Any) -> None:
    sent = invoke("sms", sim.url("ami"), "--to", "101", "--body", "Перезвоните")
    assert sent.exit_code == 0 and "Message successfully sent" in sent.stdout
    refused = invoke("sms", sim.url("ami"), "--to", "xmpp:bob@example.org", "--body", "hi")
    assert refused.exit_code == exit_codes.ACTION_FAILED and "MessageTechnologyUnavailable" in refused.output
    board = invoke("queues", sim.url("rawman"), "--json")
    assert board.exit_code == 0, board.output
    names = [queue["name"] for queue in json.loads(board.stdout)["queues"]]
    assert "support" in names
    human = invoke("queues", sim.url("ami"))
    assert "support: 0 waiting" in human.stdout and "PJSIP/103" in human.stdout
