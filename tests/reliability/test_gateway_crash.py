"""The gateway process killed with SIGKILL right after a call ended, then restarted (issue 6, faults):
every call it announced as ended before the kill is in the journal (durable before announced).

``ajam serve`` runs as a subprocess against a simulator running in a thread; a supervisor API token
(created through the user store, as an admin would with the API) follows the push feed by long-poll.
The moment the first ``ended`` envelope arrives the process is killed, with other calls still live.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import httpx
import pytest

from ajam.calls.journal import open_journal
from ajam.gateway.users import open_store
from ajam.sim.server import running_simulator
from tests.cli.test_serve_cli import URL, ajam_process, read_until, wait_connected

SCENARIOS = [
    "sip_inbound_busy",
    "sip_inbound_answered_recorded",
    "sip_internal",
    "sip_queue_answered",
    "sip_inbound_noanswer",
]
KILL_BOUND = 0.5  # seconds from reading the ended envelope to the process being gone

pytestmark = pytest.mark.timeout(90)


def create_token(db: str) -> str:
    store = open_store(db)
    try:
        token, _ = store.create_token("reliability", "supervisor")
    finally:
        store.close()
    return token


def poll(client: httpx.Client, after: int | None, timeout: float) -> dict[str, object]:
    params: dict[str, str | float] = {"timeout": timeout}
    if after is not None:
        params["after"] = after
    answer = client.get("/api/poll", params=params, timeout=timeout + 10)
    assert answer.status_code == 200, answer.text
    body: dict[str, object] = answer.json()
    return body


def ended_ids(events: object) -> list[str]:
    assert isinstance(events, list)
    return [event["data"]["call"]["id"] for event in events if event["type"] == "ended"]


def test_sigkill_right_after_a_call_ended_keeps_every_announced_call(tmp_path: Path) -> None:
    db = str(tmp_path / "calls.db")
    token = create_token(db)
    headers = {"Authorization": f"Bearer {token}"}
    with running_simulator(speed=10.0, login_failure_delay=0.0) as sim:
        pbx = sim.url("ami")
        with ajam_process("serve", "--pbx", pbx, "--db", db, "--listen", "127.0.0.1:0") as (process, lines):
            found, _ = read_until(lines, URL)
            with httpx.Client(base_url=found.group(1), headers=headers, timeout=10) as client:
                wait_connected(client)
                cursor = poll(client, None, 0)["cursor"]
                assert isinstance(cursor, int)
                running = []
                for name in SCENARIOS:
                    running.append(sim.call_soon(sim.pbx.run_scenario, name))
                    time.sleep(0.05)
                announced: list[str] = []
                deadline = time.monotonic() + 30
                while not announced and time.monotonic() < deadline:
                    answer = poll(client, cursor, 5)
                    announced = ended_ids(answer["events"])
                    next_cursor = answer["cursor"]
                    assert isinstance(next_cursor, int)
                    cursor = next_cursor
                seen_at = time.monotonic()
                os.kill(process.pid, signal.SIGKILL)
                process.wait(10)
                killed_in = time.monotonic() - seen_at
            assert announced, "no call ended within 30 s"
            assert process.returncode == -signal.SIGKILL
            assert killed_in <= KILL_BOUND
            live_at_kill = sum(1 for future in running if not future.done())

        # straight from the file the killed process wrote: every announced call is there
        journal = open_journal(db)
        try:
            missing = [call_id for call_id in announced if journal.get(call_id) is None]
        finally:
            journal.close()
        assert missing == [], f"announced as ended but not in the journal after SIGKILL: {missing}"

        # restarted on the same database, the gateway serves them too
        with ajam_process("serve", "--pbx", pbx, "--db", db, "--listen", "127.0.0.1:0") as (again, lines):
            found, _ = read_until(lines, URL)
            with httpx.Client(base_url=found.group(1), headers=headers, timeout=10) as client:
                wait_connected(client)
                listed = client.get("/api/journal", params={"limit": 100}).json()["items"]
                assert set(announced) <= {item["id"] for item in listed}
            again.send_signal(signal.SIGINT)
            assert again.wait(15) == 0
        for future in running:
            future.result(30)
    print(
        f"gateway-crash-figures: announced_before_kill={len(announced)} live_at_kill={live_at_kill} "
        f"kill_after_envelope={killed_in * 1000:.1f}ms missing=0"
    )
