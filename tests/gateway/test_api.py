"""The REST API on the simulated PBX: live calls and the journal scoped per operator, filters and
pagination, click-to-call results, the queue board, SMS, recordings, the admin raw action."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx

from ajam.calls.model import Call, Outcome, Party
from ajam.gateway.api import recording_file, redact_reply
from tests.gateway.gateway_app import Gateway, running_gateway, wait_for


async def journal_total(client: httpx.AsyncClient, query: str = "") -> int:
    response = await client.get(f"/api/journal{query}")
    assert response.status_code == 200, response.text
    return int(response.json()["total"])


async def finished(gateway: Gateway, client: httpx.AsyncClient, count: int) -> None:
    """Wait until ``count`` calls are in the journal."""
    await wait_for(lambda: _at_least(client, count))


async def _at_least(client: httpx.AsyncClient, count: int) -> bool:
    return await journal_total(client) >= count


async def live_ids(client: httpx.AsyncClient) -> list[str]:
    response = await client.get("/api/calls/live")
    assert response.status_code == 200
    return [call["id"] for call in response.json()["items"]]


async def test_live_calls_and_journal_are_scoped_per_operator(tmp_path: Path) -> None:
    async with running_gateway(tmp_path) as gateway:
        op101, op102 = await gateway.login("op101"), await gateway.login("op102")
        supervisor = await gateway.login("super")
        queue_call = asyncio.create_task(gateway.sim.pbx.run_scenario("sip_queue_answered"))  # 102, 103
        # 102 sees the call once it rings; the supervisor sees it from the caller's first event on
        seen = await wait_for(lambda: live_ids(op102))
        assert await live_ids(supervisor) == seen
        assert await live_ids(op101) == []
        await queue_call
        await finished(gateway, supervisor, 1)
        assert await journal_total(op102) == 1 and await journal_total(op101) == 0
        await gateway.sim.pbx.run_scenario("sip_inbound_answered_recorded")  # 101 only
        await finished(gateway, supervisor, 2)
        mine = (await op101.get("/api/journal")).json()["items"]
        assert [call["answered_by"] for call in mine] == ["101"]
        assert await journal_total(op102) == 1
        assert (await op101.get("/api/journal?extension=102")).status_code == 403
        assert await journal_total(supervisor, "?extension=102") == 1
        assert gateway.leaked() == []


async def test_journal_filters_pagination_missed_and_csv(tmp_path: Path) -> None:
    async with running_gateway(tmp_path) as gateway:
        supervisor, op101 = await gateway.login("super"), await gateway.login("op101")
        pbx = gateway.sim.pbx
        await asyncio.gather(
            pbx.run_scenario("sip_inbound_answered_recorded"),
            pbx.run_scenario("sip_inbound_busy"),
            pbx.run_scenario("sip_inbound_noanswer"),
        )
        await finished(gateway, supervisor, 3)
        page = (await supervisor.get("/api/journal?limit=2&offset=0")).json()
        assert page["total"] == 3 and page["limit"] == 2 and len(page["items"]) == 2
        rest = (await supervisor.get("/api/journal?limit=2&offset=2")).json()
        assert len(rest["items"]) == 1
        ids = {call["id"] for call in page["items"]} | {call["id"] for call in rest["items"]}
        assert len(ids) == 3
        missed = (await op101.get("/api/journal/missed")).json()
        assert missed["total"] == 2
        assert {call["outcome"] for call in missed["items"]} == {"busy", "no_answer"}
        assert await journal_total(supervisor, "?missed=true") == 2
        assert await journal_total(supervisor, "?outcome=answered") == 1
        assert await journal_total(supervisor, "?outcome=busy&outcome=no_answer") == 2
        assert await journal_total(supervisor, "?number=79161234567") == 3
        assert await journal_total(supervisor, "?number=*4567") == 3
        assert await journal_total(supervisor, "?direction=outbound") == 0
        future = time.time() + 10 * 86400
        assert await journal_total(supervisor, f"?since={future}") == 0
        assert await journal_total(supervisor, "?since=2000-01-01T00:00:00Z&until=2999-01-01") == 3
        assert (await supervisor.get("/api/journal?outcome=exploded")).status_code == 422
        assert (await supervisor.get("/api/journal?since=yesterday")).status_code == 422
        assert (await supervisor.get("/api/journal?limit=100000")).status_code == 422
        csv = await supervisor.get("/api/journal.csv?missed=true")
        assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
        assert len(csv.text.strip().splitlines()) == 3  # header + 2 missed calls
        assert gateway.leaked() == []


async def dial_result(client: httpx.AsyncClient, job: str) -> dict[str, Any]:
    async def done() -> dict[str, Any] | None:
        body: dict[str, Any] = (await client.get(f"/api/dial/{job}")).json()
        return body if body["state"] == "done" else None

    result: dict[str, Any] = await wait_for(done, timeout=20)
    return result


async def test_dial_answered_and_busy(tmp_path: Path) -> None:
    async with running_gateway(tmp_path) as gateway:
        op101, op102 = await gateway.login("op101"), await gateway.login("op102")
        hub = gateway.app.state.hub
        start = hub.last_cursor
        accepted = await op101.post("/api/dial", json={"to": "(495) 111-22-33"})
        assert accepted.status_code == 202
        job = accepted.json()["id"]
        assert (await op101.get(f"/api/dial/{job}")).json()["state"] in ("pending", "done")
        result = await dial_result(op101, job)
        assert result["status"] == "answered" and result["from_extension"] == "101"
        assert result["to"] == "4951112233" and result["call_id"]
        assert (await op102.get(f"/api/dial/{job}")).status_code == 404  # not 102's business
        pushed = [env for env in hub.since(start) if env.type == "dial"]
        assert pushed and pushed[-1].extensions == ("101",) and pushed[-1].data["id"] == job
        await wait_for(lambda: _no_live(op101), timeout=20)
        busy = await op101.post("/api/dial", json={"to": "4951110486", "from_extension": "101"})
        assert (await dial_result(op101, busy.json()["id"]))["status"] == "busy"
        assert (await op101.post("/api/dial", json={"to": "12; Action: Hangup"})).status_code == 422
        assert (await op101.post("/api/dial", json={"to": "123\r\nAction: Logoff"})).status_code == 422
        assert (await op101.get("/api/dial/unknown")).status_code == 404
        supervisor = await gateway.login("super")
        assert (await supervisor.post("/api/dial", json={"to": "4951112233"})).status_code == 422
        assert gateway.leaked() == []


async def _no_live(client: httpx.AsyncClient) -> bool:
    return await live_ids(client) == []


async def test_queue_board(tmp_path: Path) -> None:
    async with running_gateway(tmp_path) as gateway:
        supervisor = await gateway.login("super")
        start = gateway.app.state.hub.last_cursor
        await gateway.sim.pbx.run_scenario("sip_queue_answered")
        await finished(gateway, supervisor, 1)
        board = (await supervisor.get("/api/queues")).json()
        names = [queue["name"] for queue in board["queues"]]
        assert "support" in names
        assert any(entry["queue"] == "support" and entry["answered"] == 1 for entry in board["stats"])
        assert len(board["hourly"]) == 24 and sum(hour["calls"] for hour in board["hourly"]) == 1
        pushed = [env for env in gateway.app.state.hub.since(start) if env.type == "queue"]
        assert pushed and pushed[-1].extensions == ()
        assert (await (await gateway.login("op102")).get("/api/queues")).status_code == 403


async def test_sms(tmp_path: Path) -> None:
    async with running_gateway(tmp_path) as gateway:
        operator = await gateway.login("op101")
        sent = await operator.post("/api/sms", json={"to": "101", "body": "Перезвоните клиенту"})
        assert sent.status_code == 200 and sent.json() == {"ok": True, "message": "Message successfully sent"}
        injected = await operator.post("/api/sms", json={"to": "101\r\nAction: Logoff", "body": "x"})
        assert injected.status_code == 400 and injected.json()["ok"] is False
        too_long = await operator.post("/api/sms", json={"to": "101", "body": "я" * 1000})
        assert too_long.status_code == 400


async def test_recordings(tmp_path: Path) -> None:
    recordings = tmp_path / "recordings"
    recordings.mkdir()
    async with running_gateway(tmp_path, recordings_dir=recordings) as gateway:
        op101, op102 = await gateway.login("op101"), await gateway.login("op102")
        await gateway.sim.pbx.run_scenario("sip_inbound_answered_recorded")
        await finished(gateway, op101, 1)
        call = (await op101.get("/api/journal")).json()["items"][0]
        assert call["recording"].startswith("/var/spool/asterisk/monitor/")
        assert (await op101.get(f"/api/recordings/{call['id']}")).status_code == 404  # not there yet
        (recordings / Path(call["recording"]).name).write_bytes(b"RIFF0000WAVEfmt ")
        audio = await op101.get(f"/api/recordings/{call['id']}")
        assert audio.status_code == 200 and audio.headers["content-type"] == "audio/wav"
        assert audio.content == b"RIFF0000WAVEfmt "
        assert (await op102.get(f"/api/recordings/{call['id']}")).status_code == 404
        assert (await op101.get("/api/recordings/..%2F..%2Fetc%2Fpasswd")).status_code == 404
        outside = tmp_path / "outside.wav"
        outside.write_bytes(b"secret audio")
        journal = gateway.app.state.journal
        sneaky = Call("sneaky.1", caller=Party("101"), answered_by="101", outcome=Outcome.ANSWERED)
        sneaky.started_at = sneaky.ended_at = time.time()
        sneaky.recording = "../outside.wav"
        await journal.store(sneaky)
        assert (await op101.get("/api/recordings/sneaky.1")).status_code == 404
        (recordings / "link.wav").symlink_to(outside)
        sneaky.recording = "/var/spool/asterisk/monitor/link.wav"
        await journal.store(sneaky)
        assert (await op101.get("/api/recordings/sneaky.1")).status_code == 404


def test_recording_file_stays_inside_the_folder(tmp_path: Path) -> None:
    root = tmp_path / "rec"
    (root / "2025" / "11").mkdir(parents=True)
    wanted = root / "2025" / "11" / "call.wav"
    wanted.write_bytes(b"x")
    (tmp_path / "call.wav").write_bytes(b"y")
    assert recording_file(root, "/var/spool/asterisk/monitor/2025/11/call.wav") == wanted.resolve()
    assert recording_file(root, "call.wav") is None
    assert recording_file(root, "/etc/../call.wav") is None
    assert recording_file(root, "/etc/passwd") is None


async def test_admin_action(tmp_path: Path) -> None:
    async with running_gateway(tmp_path) as gateway:
        admin = await gateway.login("admin")
        ping = await admin.post("/api/admin/action", json={"action": "Ping"})
        assert ping.status_code == 200 and ping.json()["response"]["Response"] == "Success"
        listing = await admin.post(
            "/api/admin/action", json={"action": "CoreShowChannels", "headers": {"ActionID": "a-1"}}
        )
        assert listing.status_code == 200 and isinstance(listing.json()["events"], list)
        injected = await admin.post(
            "/api/admin/action", json={"action": "Ping", "headers": {"X": "1\r\nAction: Logoff"}}
        )
        assert injected.status_code == 400
        for refused in ("Logoff", "Login", "Challenge", "Ping\r\nAction: Logoff"):
            assert (await admin.post("/api/admin/action", json={"action": refused})).status_code == 400
        assert (await admin.get("/api/health")).json()["pbx"] == "connected"
        assert gateway.leaked() == []


def test_redact_reply() -> None:
    reply = {
        "Response": "Success",
        "Secret": "s3cret",
        "Output": ["Line-000001-000000: secret=s3cret", "Line-000002-000000: deny=0.0.0.0"],
        "Message": "connected as admin with s3cret",
    }
    redacted = redact_reply(reply, ["s3cret"])
    assert "s3cret" not in str(redacted)
    assert redacted["Output"][1] == "Line-000002-000000: deny=0.0.0.0"
    assert redacted["Output"][0] == "Line-000001-000000: secret=***"
