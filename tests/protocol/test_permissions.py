"""Permission classes against what the captured PBX allowed and delivered."""

from __future__ import annotations

from ajam.protocol.permissions import (
    CLASSES,
    event_class,
    may_read,
    may_write,
    parse_classes,
    required_classes,
)
from tests.protocol.reference import tcp_server_messages
from tests.support.transcripts import SHARED, load, require_shared

LIMITED_READ = parse_classes("call")
LIMITED_WRITE = parse_classes("originate")


def test_parse_classes() -> None:
    assert parse_classes("all") == frozenset(CLASSES)
    assert parse_classes(" System, CALL ,bogus,") == {"system", "call"}
    assert parse_classes("") == frozenset()


def test_limited_user_write_permissions_match_ami_60_and_61() -> None:
    require_shared()
    actions = {"Ping": "Success", "Command": "Error", "CoreShowChannels": "Error", "Logoff": "Goodbye"}
    _, responses = tcp_server_messages(
        load(SHARED / "transcripts" / "ami_60_limited_user_permission_denied.txt")
    )
    denied = [dict(headers).get("Message") == "Permission denied" for headers in responses[1:]]
    assert denied == [False, True, True, False]
    for action, status in actions.items():
        assert may_write(action, LIMITED_WRITE) == (status != "Error")
    assert may_write("Originate", LIMITED_WRITE)
    assert all(may_write(action, parse_classes("all")) for action in actions)


def test_limited_user_gets_only_call_class_events_ami_61() -> None:
    require_shared()
    _, messages = tcp_server_messages(load(SHARED / "transcripts" / "ami_61_limited_user_originate.txt"))
    privileges = [dict(h)["Privilege"] for h in messages if h[0][0] == "Event"]
    assert privileges and all(may_read(privilege, LIMITED_READ) for privilege in privileges)
    _, admin = tcp_server_messages(load(SHARED / "transcripts" / "ami_20_originate_answered.txt"))
    admin_privileges = {dict(h)["Privilege"] for h in admin if h[0][0] == "Event"}
    refused = {privilege for privilege in admin_privileges if not may_read(privilege, LIMITED_READ)}
    assert "dialplan,all" in refused and "call,all" not in refused


def test_event_class_and_required_classes() -> None:
    assert event_class("call,all") == {"call"}
    assert event_class("") == frozenset()
    assert may_read("", frozenset())
    assert required_classes("PING") == ()
    assert required_classes("coreshowchannels") == ("system", "reporting")
    assert may_write("UnknownAction", frozenset())
