"""MessageSend through the simulator over both transports: success, and the clear error a PBX without
the message technology gives."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from ajam.calls.sms import (
    BASE64_BODY_LIMIT,
    MessageTechnologyUnavailable,
    SmsFailed,
    body_headers,
    destination,
    send_sms,
)
from ajam.client import connect
from ajam.errors import ActionFailed, HeaderInjection
from ajam.sim.server import SimulatedPbx

KINDS = ["ami", "rawman"]


def options(kind: str) -> dict[str, Any]:
    return {"keepalive": None} if kind == "ami" else {"wait_timeout": 1}


@pytest.mark.parametrize("kind", KINDS)
async def test_message_sent(kind: str) -> None:
    async with SimulatedPbx(login_failure_delay=0.0) as sim:
        async with await connect(sim.url(kind), **options(kind)) as client:
            reply = await send_sms(client, to="101", body="Перезвоните клиенту\nпо заказу 42", from_="CRM")
    assert reply.ok and reply.response.message == "Message successfully sent"


@pytest.mark.parametrize("kind", KINDS)
async def test_unknown_technology_is_a_clear_error(kind: str) -> None:
    async with SimulatedPbx(login_failure_delay=0.0) as sim:
        async with await connect(sim.url(kind), **options(kind)) as client:
            with pytest.raises(MessageTechnologyUnavailable) as caught:
                await send_sms(client, to="xmpp:bob@example.org", body="hi")
    error = caught.value
    assert isinstance(error, SmsFailed) and isinstance(error, ActionFailed)
    assert "Message technology not found." in str(error) and "'xmpp'" in str(error)


async def test_line_breaks_in_addresses_are_refused_before_sending() -> None:
    async with SimulatedPbx(login_failure_delay=0.0) as sim:
        async with await connect(sim.url("ami"), keepalive=None) as client:
            sent = client.stats.actions_sent
            with pytest.raises(HeaderInjection, match="the to address"):
                await send_sms(client, to="101\r\nAction: Originate", body="x")
            assert client.stats.actions_sent == sent


def test_body_encoding() -> None:
    assert body_headers("Call me back") == [("Body", "Call me back")]
    ((key, value),) = body_headers("Привет\nмир")
    assert key == "Base64Body" and base64.b64decode(value).decode() == "Привет\nмир"
    with pytest.raises(ValueError, match="at most 1300"):
        body_headers("я" * (BASE64_BODY_LIMIT // 2 + 1))
    assert destination("101") == "pjsip:101" and destination("sip:bob@host") == "sip:bob@host"
