from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from ajam.protocol.auth import challenge_key
from ajam.sim.config import AclRule, User, parse_network
from ajam.sim.server import SimulatedPbx
from tests.sim.amitalk import AmiTalk

pytestmark = pytest.mark.timeout(20)


@pytest.fixture
async def sim() -> AsyncIterator[SimulatedPbx]:
    async with SimulatedPbx(login_failure_delay=0.2, authtimeout=0.5) as simulator:
        yield simulator


async def test_login_then_fullybooted_and_successfulauth(sim: SimulatedPbx) -> None:
    ami = await AmiTalk.connect(sim.ami_port)
    response = await ami.login(ActionID="l1")
    assert response.headers == (
        ("Response", "Success"),
        ("ActionID", "l1"),
        ("Message", "Authentication accepted"),
    )
    booted = await ami.message()
    assert booted.get("Event") == "FullyBooted" and booted.get("Privilege") == "system,all"
    auth = await ami.message()
    assert auth.get("Event") == "SuccessfulAuth" and auth.get("AccountID") == "admin"
    assert auth.get("RemoteAddress", "").startswith("IPV4/TCP/127.0.0.1/")
    assert auth.get("LocalAddress") == f"IPV4/TCP/127.0.0.1/{sim.ami_port}"
    ami.close()


async def test_failed_login_waits_then_closes(sim: SimulatedPbx) -> None:
    ami = await AmiTalk.connect(sim.ami_port)
    started = time.monotonic()
    response = await ami.login(secret="wrong")
    assert time.monotonic() - started >= 0.18
    assert response.get("Response") == "Error" and response.get("Message") == "Authentication failed"
    assert await ami.closed()


async def test_md5_challenge_login(sim: SimulatedPbx) -> None:
    ami = await AmiTalk.connect(sim.ami_port)
    await ami.next()
    ami.send("Challenge", AuthType="MD5")
    challenge = (await ami.message()).get("Challenge", "")
    assert challenge.isdigit()
    ami.send("Login", AuthType="MD5", Username="admin", Key=challenge_key(challenge, "s3cret"))
    assert (await ami.message()).get("Message") == "Authentication accepted"
    ami.close()


async def test_md5_login_without_challenge_fails(sim: SimulatedPbx) -> None:
    ami = await AmiTalk.connect(sim.ami_port)
    await ami.next()
    ami.send("Login", AuthType="MD5", Username="admin", Key=challenge_key("1", "s3cret"))
    assert (await ami.message()).get("Message") == "Authentication failed"
    assert await ami.closed()


async def test_unauthenticated_connection_dropped_after_authtimeout(sim: SimulatedPbx) -> None:
    ami = await AmiTalk.connect(sim.ami_port)
    await ami.next()
    started = time.monotonic()
    assert await ami.closed(timeout=3)
    assert 0.4 <= time.monotonic() - started < 2


async def test_logged_in_connection_survives_authtimeout(sim: SimulatedPbx) -> None:
    ami = await AmiTalk.connect(sim.ami_port)
    await ami.login(Events="off")
    await asyncio.sleep(0.7)
    ami.send("Ping", ActionID="p")
    assert (await ami.message()).get("Ping") == "Pong"
    ami.close()


async def test_acl_deny_refuses_login() -> None:
    blocked = User(
        "boss",
        "pw",
        frozenset({"system"}),
        frozenset({"system"}),
        (AclRule(False, parse_network("127.0.0.0/8")),),
    )
    async with SimulatedPbx(users={"boss": blocked}, login_failure_delay=0) as sim:
        ami = await AmiTalk.connect(sim.ami_port)
        assert (await ami.login("boss", "pw")).get("Message") == "Authentication failed"


async def test_limited_user_gets_only_call_class_events(sim: SimulatedPbx) -> None:
    limited = await AmiTalk.connect(sim.ami_port)
    assert (await limited.login("limited", "limited1")).get("Response") == "Success"
    sim.publish([("Event", "Newchannel"), ("Privilege", "call,all"), ("Channel", "X")])
    sim.publish([("Event", "Reload"), ("Privilege", "system,all")])
    sim.publish([("Event", "Hangup"), ("Privilege", "call,all"), ("Channel", "X")])
    assert (await limited.message()).get("Event") == "Newchannel"
    assert (await limited.message()).get("Event") == "Hangup"
    limited.close()


async def test_events_off_then_filters(sim: SimulatedPbx) -> None:
    ami = await AmiTalk.connect(sim.ami_port)
    await ami.login(Events="off")
    ami.send("Events", EventMask="on", ActionID="on")
    assert (await ami.message()).get("Events") == "On"
    ami.send("Filter", Operation="Add", Filter="Event: Hangup")
    assert (await ami.message()).get("Message") == "Success"
    ami.send(
        "Filter",
        Operation="Add",
        MatchCriteria="action(exclude),header(Channel),method(starts_with)",
        Filter="Local/",
    )
    assert (await ami.message()).get("Message") == "Success"
    for name, channel in (
        ("Newchannel", "PJSIP/1"),
        ("Hangup", "Local/x;1"),
        ("HangupRequest", "PJSIP/2"),
        ("Hangup", "PJSIP/3"),
    ):
        sim.publish([("Event", name), ("Privilege", "call,all"), ("Channel", channel)])
    first, second = await ami.message(), await ami.message()
    assert (first.get("Event"), first.get("Channel")) == (
        "HangupRequest",
        "PJSIP/2",
    )  # legacy regex is unanchored
    assert (second.get("Event"), second.get("Channel")) == ("Hangup", "PJSIP/3")
    ami.send("Filter", Operation="Add", Filter="([")
    assert (await ami.message()).get("Message", "").startswith("Filter did not compile")
    ami.send("Filter", Operation="Add", MatchCriteria="colour(red)", Filter="")
    assert (await ami.message()).get("Message", "").startswith("Filter was formatted incorrectly")
    ami.close()


async def test_unknown_action_and_security_event_to_other_sessions(sim: SimulatedPbx) -> None:
    watcher = await AmiTalk.connect(sim.ami_port)
    await watcher.login()
    await watcher.until("SuccessfulAuth")
    ami = await AmiTalk.connect(sim.ami_port)
    await ami.login(Events="off")
    await watcher.until("SuccessfulAuth")
    ami.send("Frobnicate", ActionID="x")
    reply = await ami.message()
    assert reply.get("Message") == (
        "Invalid/unknown command: Frobnicate. Use Action: ListCommands to show available commands."
    )
    bad = await watcher.until("RequestBadFormat")
    assert bad.get("RequestType") == "Action: Frobnicate" and bad.get("AccountID") == "admin"
    watcher.close()
    ami.close()


async def test_command_outputs(sim: SimulatedPbx) -> None:
    ami = await AmiTalk.connect(sim.ami_port)
    await ami.login(Events="off")
    ami.send("Command", Command="core show channels")
    reply = await ami.message()
    assert reply.getall("Output")[-3:] == ["0 active channels", "0 active calls", "0 calls processed"]
    ami.send("Command", Command="manager show connected")
    assert (await ami.message()).getall("Output")[-1] == "1 users connected."
    ami.send("Command", Command="core show nonsense please")
    assert "'core show help core show nonsense please'" in (await ami.message()).getall("Output")[0]
    ami.close()


async def test_sync_originate_does_not_block_other_connections() -> None:
    async with SimulatedPbx(speed=50) as sim:
        slow = await AmiTalk.connect(sim.ami_port)
        await slow.login(Events="off")
        slow.send("Originate", Channel="Local/answer@test", Application="Wait", Data="1", ActionID="sync")
        other = await AmiTalk.connect(sim.ami_port)
        await other.login(Events="off")
        other.send("Ping", ActionID="p")
        assert (await other.message()).get("ActionID") == "p"
        reply = await slow.until("Success", timeout=5)
        assert reply.get("ActionID") == "sync"


async def test_waitevent_over_tcp_returns_on_next_event(sim: SimulatedPbx) -> None:
    ami = await AmiTalk.connect(sim.ami_port)
    await ami.login(Events="off")
    ami.send("Events", EventMask="user")
    await ami.message()
    ami.send("WaitEvent", Timeout="5", ActionID="w")
    await asyncio.sleep(0.1)
    started = time.monotonic()
    sim.publish([("Event", "UserEvent"), ("Privilege", "user,all"), ("UserEvent", "Go")])
    event = await ami.message()
    assert event.get("UserEvent") == "Go"
    reply = await ami.message()
    assert reply.get("Message") == "Waiting for Event completed." and reply.get("ActionID") == "w"
    assert (await ami.message()).headers == (("Event", "WaitEventComplete"), ("ActionID", "w"))
    assert time.monotonic() - started < 0.5
    ami.close()


async def test_listcommands_and_userevent(sim: SimulatedPbx) -> None:
    watcher = await AmiTalk.connect(sim.ami_port)
    await watcher.login(Events="off")
    watcher.send("Events", EventMask="user")
    await watcher.message()
    ami = await AmiTalk.connect(sim.ami_port)
    await ami.login(Events="off")
    ami.send("ListCommands", ActionID="lc")
    listing = await ami.message()
    assert (
        listing.get("Ping") == "Ping (Priv: <none>)"
        and listing.get("Originate") == "Originate (Priv: originate)"
    )
    ami.send("UserEvent", UserEvent="CrmPing", Extra="1", ActionID="u")
    assert (await ami.message()).headers == (("Response", "Success"), ("ActionID", "u"))
    event = await watcher.message()
    assert event.headers[:3] == (("Event", "UserEvent"), ("Privilege", "user,all"), ("UserEvent", "CrmPing"))
    assert event.get("Extra") == "1"
    ami.close()
    watcher.close()
