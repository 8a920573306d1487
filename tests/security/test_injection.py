"""CR/LF/NUL injection through every user-facing input reaches the PBX as nothing.

Each attempt runs against a simulated PBX whose dispatcher is wrapped to record every message that any
session (TCP or HTTP) hands it. The assertions: the input is refused with a clear error (CLI exit code 2
or an HTTP 4xx naming the problem), and no smuggled action (``Command``/``Originate``/``UserEvent`` from
the payload) was ever dispatched, nor any header carrying the payload's marker.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from click.testing import CliRunner

from ajam.cli import exit_codes
from ajam.cli.main import main
from ajam.protocol.message import Message
from ajam.sim.server import SimulatedPbx, running_simulator
from tests.gateway.gateway_app import running_gateway

MARKER = "PWNED"
SMUGGLED = (
    f"Action: Command\r\nCommand: core stop now {MARKER}\r\n\r\nAction: Originate\r\nChannel: Local/{MARKER}"
)
PAYLOADS = {
    "crlf": f"x\r\n{SMUGGLED}",
    "lf": "x\n" + SMUGGLED.replace("\r\n", "\n"),
    "cr": "x\r" + SMUGGLED.replace("\r\n", "\r"),
    "nul": f"x\x00{SMUGGLED}",
}
SMUGGLED_ACTIONS = {"command", "originate", "userevent"}


class Recorder:
    """Every message the simulator's dispatcher receives, from any session."""

    def __init__(self, sim: SimulatedPbx) -> None:
        self.messages: list[Message] = []
        original = sim.dispatcher.dispatch

        async def recording(session: Any, message: Message, out: Any) -> bool:
            self.messages.append(message)
            return await original(session, message, out)

        sim.dispatcher.dispatch = recording  # type: ignore[method-assign]

    @property
    def actions(self) -> list[str]:
        return [str(message.get("Action", "")).lower() for message in self.messages]

    def assert_nothing_smuggled(self, allowed: frozenset[str] = frozenset()) -> None:
        smuggled = [a for a in self.actions if a in SMUGGLED_ACTIONS - allowed]
        assert smuggled == [], f"injected actions reached the PBX: {smuggled}"
        for message in self.messages:
            for key, value in message.to_dict().items():
                text = f"{key}: {value}"
                assert MARKER not in text, f"payload reached the PBX: {text[:120]!r}"


@pytest.fixture(scope="module")
def sim() -> Iterator[SimulatedPbx]:
    with running_simulator(login_failure_delay=0.0) as pbx:
        yield pbx


@pytest.fixture
def recorder(sim: SimulatedPbx) -> Iterator[Recorder]:
    original = sim.dispatcher.dispatch
    recorder = Recorder(sim)
    yield recorder
    sim.dispatcher.dispatch = original  # type: ignore[method-assign]


def cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, (result.stdout or "") + (result.stderr or "")


URL_KINDS = ["ami", "rawman"]


@pytest.mark.parametrize("kind", URL_KINDS)
@pytest.mark.parametrize("payload", list(PAYLOADS), ids=list(PAYLOADS))
def test_send_header_value_and_key_refused(
    sim: SimulatedPbx, recorder: Recorder, kind: str, payload: str
) -> None:
    for argument in (f"Variable={PAYLOADS[payload]}", f"{PAYLOADS[payload]}=1"):
        code, out = cli("send", sim.url(kind), "Ping", argument)
        assert code == exit_codes.USAGE, out
        assert "CR" in out or "LF" in out or "NUL" in out or "line break" in out.lower(), out
    recorder.assert_nothing_smuggled()


@pytest.mark.parametrize("kind", URL_KINDS)
@pytest.mark.parametrize("payload", list(PAYLOADS), ids=list(PAYLOADS))
def test_send_action_name_refused(sim: SimulatedPbx, recorder: Recorder, kind: str, payload: str) -> None:
    code, out = cli("send", sim.url(kind), "Ping" + PAYLOADS[payload])
    assert code == exit_codes.USAGE, out
    recorder.assert_nothing_smuggled()


@pytest.mark.parametrize("payload", list(PAYLOADS), ids=list(PAYLOADS))
@pytest.mark.parametrize("field", ["--from", "--to"])
def test_dial_fields_refused(sim: SimulatedPbx, recorder: Recorder, payload: str, field: str) -> None:
    values = {"--from": "101", "--to": "5551234"}
    values[field] = "101" + PAYLOADS[payload] if field == "--from" else "555" + PAYLOADS[payload]
    code, out = cli(
        "dial", sim.url("ami"), "--from", values["--from"], "--to", values["--to"], "--timeout", "2"
    )
    assert code == exit_codes.USAGE, out
    recorder.assert_nothing_smuggled()


@pytest.mark.parametrize("payload", list(PAYLOADS), ids=list(PAYLOADS))
@pytest.mark.parametrize("field", ["--to", "--from"])
def test_sms_address_fields_refused(sim: SimulatedPbx, recorder: Recorder, payload: str, field: str) -> None:
    args = ["sms", sim.url("ami"), "--to", "101", "--body", "hello"]
    args += [field, "101" + PAYLOADS[payload]] if field == "--to" else ["--from", "CRM" + PAYLOADS[payload]]
    code, out = cli(*args)
    assert code == exit_codes.USAGE, out
    recorder.assert_nothing_smuggled()


@pytest.mark.parametrize("payload", list(PAYLOADS), ids=list(PAYLOADS))
def test_sms_body_lines_never_become_headers(sim: SimulatedPbx, recorder: Recorder, payload: str) -> None:
    """A multi-line body is allowed (the README says so) but must travel inside Base64Body/Body headers,
    never as raw lines: whatever the outcome, no smuggled action is dispatched."""
    code, out = cli("sms", sim.url("ami"), "--to", "101", "--body", "hi" + PAYLOADS[payload])
    assert code in (exit_codes.OK, exit_codes.USAGE, exit_codes.ACTION_FAILED), out
    assert [a for a in recorder.actions if a in SMUGGLED_ACTIONS] == []
    for message in recorder.messages:
        assert "core stop now" not in str(message.get("Command", "")), message


@pytest.mark.parametrize("kind", URL_KINDS)
@pytest.mark.parametrize("payload", list(PAYLOADS), ids=list(PAYLOADS))
def test_events_filter_never_reaches_the_pbx(
    sim: SimulatedPbx, recorder: Recorder, kind: str, payload: str
) -> None:
    """``--filter`` is a client-side glob, never sent; one holding CR/LF/NUL is refused as a usage error."""
    code, out = cli("events", sim.url(kind), "--filter", "Newchannel" + PAYLOADS[payload], "--seconds", "0.3")
    assert code == exit_codes.USAGE, out
    assert MARKER not in out
    assert "filter" not in recorder.actions
    recorder.assert_nothing_smuggled()


@pytest.mark.parametrize("kind", URL_KINDS)
@pytest.mark.parametrize("payload", list(PAYLOADS), ids=list(PAYLOADS))
async def test_server_filter_refused_by_the_library(
    sim: SimulatedPbx, recorder: Recorder, kind: str, payload: str
) -> None:
    from ajam.client import connect
    from ajam.errors import HeaderInjection

    async with await connect(sim.url(kind)) as pbx:
        with pytest.raises(HeaderInjection):
            await pbx.add_filter("Event: Hangup" + PAYLOADS[payload])
        with pytest.raises(HeaderInjection):
            await pbx.add_filter(match_criteria="name(Hangup)" + PAYLOADS[payload])
        with pytest.raises(HeaderInjection):
            await pbx.set_eventmask("call" + PAYLOADS[payload])
    recorder.assert_nothing_smuggled()


@pytest.mark.parametrize("kind", URL_KINDS)
@pytest.mark.parametrize("payload", list(PAYLOADS), ids=list(PAYLOADS))
@pytest.mark.parametrize("part", ["user", "secret"])
def test_url_credentials_refused(
    sim: SimulatedPbx, recorder: Recorder, kind: str, payload: str, part: str
) -> None:
    encoded = quote(PAYLOADS[payload], safe="")
    user, secret = ("admin" + encoded, "s3cret") if part == "user" else ("admin", "s3cret" + encoded)
    base = sim.url(kind).split("@", 1)[1]
    scheme = "ami" if kind == "ami" else "http"
    code, out = cli("send", f"{scheme}://{user}:{secret}@{base}", "Ping")
    assert code in (exit_codes.USAGE, exit_codes.AUTHENTICATION_FAILED), out
    assert code != exit_codes.OK
    recorder.assert_nothing_smuggled()
    for message in recorder.messages:
        if str(message.get("Action", "")).lower() == "login":
            assert "\r" not in str(message.to_dict()) and "\n" not in str(message.to_dict())


# ------------------------------------------------------------------------------------------ gateway
@pytest.mark.parametrize("payload", list(PAYLOADS), ids=list(PAYLOADS))
async def test_gateway_inputs_refused(tmp_path: Path, payload: str) -> None:
    evil = PAYLOADS[payload]
    async with running_gateway(tmp_path) as gateway:
        recorder = Recorder(gateway.sim)
        admin = await gateway.login("admin")
        operator = await gateway.login("op101")
        attempts = [
            (admin, "/api/dial", {"to": "555" + evil, "from_extension": "101"}),
            (admin, "/api/dial", {"to": "5551234", "from_extension": "101" + evil}),
            (operator, "/api/dial", {"to": "555" + evil}),
            (admin, "/api/sms", {"to": "101" + evil, "body": "hello"}),
            (admin, "/api/admin/action", {"action": "Ping" + evil, "headers": {}}),
            (admin, "/api/admin/action", {"action": "Ping", "headers": {"Variable": evil}}),
            (admin, "/api/admin/action", {"action": "Ping", "headers": {evil: "1"}}),
            (admin, "/api/admin/action", {"action": "Ping", "headers": {"Variable": ["ok", evil]}}),
        ]
        for client, path, body in attempts:
            response = await client.post(path, json=body)
            assert 400 <= response.status_code < 500, (path, body, response.status_code, response.text)
            assert response.text, "the refusal names the problem"
        # login fields: refused as bad credentials, never passed on to the PBX
        for login in ({"username": "admin" + evil, "password": "x"}, {"username": "admin", "password": evil}):
            response = await gateway.client().post("/api/login", json=login)
            assert response.status_code in (400, 401, 422), response.text
        # journal filters are database queries (bound parameters), not manager input
        for params in ({"number": evil}, {"extension": evil}, {"q": evil}, {"since": evil}):
            response = await admin.get("/api/journal", params=params)
            assert response.status_code in (200, 400, 422), response.text
            if response.status_code == 200:
                assert response.json()["items"] == []
        recorder.assert_nothing_smuggled()


async def test_gateway_sms_body_stays_inside_one_action(tmp_path: Path) -> None:
    async with running_gateway(tmp_path) as gateway:
        recorder = Recorder(gateway.sim)
        admin = await gateway.login("admin")
        response = await admin.post("/api/sms", json={"to": "101", "body": "hi" + PAYLOADS["crlf"]})
        assert response.status_code < 500, response.text
        assert [a for a in recorder.actions if a in SMUGGLED_ACTIONS] == []


@pytest.mark.parametrize("payload", list(PAYLOADS), ids=list(PAYLOADS))
def test_login_headers_refuse_injection_without_echoing_the_secret(payload: str) -> None:
    """Regression: credentials from a URL (percent-decoded), AJAM_SECRET or the credentials file went
    into the Login action unchecked, so ``ami://admin:s3cret%0d%0a%0d%0aAction:%20Originate...`` logged in
    and then ran the smuggled action."""
    from ajam.errors import HeaderInjection
    from ajam.protocol.auth import challenge_login_headers, login_headers

    secret = "hunter2" + PAYLOADS[payload]
    with pytest.raises(HeaderInjection) as refused:
        login_headers("admin", secret)
    assert "hunter2" not in str(refused.value)
    with pytest.raises(HeaderInjection):
        login_headers("admin" + PAYLOADS[payload], "hunter2")
    with pytest.raises(HeaderInjection):
        challenge_login_headers("admin" + PAYLOADS[payload], "12345", "hunter2")
    assert login_headers("admin", "s3cret") == [("Username", "admin"), ("Secret", "s3cret")]
