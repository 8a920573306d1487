"""The message model: ordered, repeated, case-insensitive headers."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ajam.protocol.message import (
    Action,
    Event,
    Message,
    Response,
    make_message,
    message_from_text,
    messages_from_texts,
    parse_header_lines,
)

HEADERS = [("Event", "VarSet"), ("Variable", "A"), ("variable", "B"), ("ActionID", "42")]


def test_lookup_is_case_insensitive_and_ordered() -> None:
    message = make_message(HEADERS)
    assert isinstance(message, Event) and message.name == "VarSet"
    assert message.get("VARIABLE") == "A"
    assert message.getall("Variable") == ["A", "B"]
    assert message["actionid"] == "42" and message.action_id == "42"
    assert "EVENT" in message and "Missing" not in message and 3 not in message
    assert message.get("Missing") is None and message.get("Missing", "x") == "x"
    assert message.getall("Missing") == []
    assert list(message) == HEADERS and len(message) == 4
    with pytest.raises(KeyError):
        message["Missing"]


def test_equality_hash_and_repr() -> None:
    assert make_message(HEADERS) == make_message(HEADERS)
    assert hash(make_message(HEADERS)) == hash(make_message(HEADERS))
    assert make_message(HEADERS) != Message(HEADERS)
    assert make_message(HEADERS) != make_message(HEADERS, ["raw"])
    assert make_message(HEADERS) != HEADERS
    assert "VarSet" in repr(make_message(HEADERS))


@pytest.mark.parametrize(
    ("headers", "kind"),
    [
        ([("Response", "Success")], Response),
        ([("event", "Hangup")], Event),
        ([("Action", "Ping")], Action),
        ([("ActionID", "1"), ("Response", "Error")], Response),
        ([("ActionID", "1"), ("Event", "X")], Event),
        ([("ActionID", "1"), ("Action", "X")], Action),
        ([("Foo", "bar")], Message),
        ([], Message),
    ],
)
def test_make_message_picks_the_type(headers: list[tuple[str, str]], kind: type) -> None:
    assert type(make_message(headers)) is kind


def test_response_properties() -> None:
    response = make_message(
        [("Response", "Success"), ("EventList", "start"), ("Message", "Channels will follow")]
    )
    assert isinstance(response, Response)
    assert response.is_success and response.starts_list and response.status == "Success"
    assert response.message == "Channels will follow"
    assert make_message([("Response", "Goodbye")]).is_success  # type: ignore[attr-defined]
    error = make_message([("Response", "Error")])
    assert isinstance(error, Response) and not error.is_success and not error.starts_list


def test_event_list_end_and_action_name() -> None:
    done = make_message([("Event", "CoreShowChannelsComplete"), ("EventList", "Complete")])
    assert isinstance(done, Event) and done.ends_list
    action = make_message([("Action", "Ping")])
    assert isinstance(action, Action) and action.name == "Ping"


def test_output_and_to_dict() -> None:
    message = make_message(
        [("Response", "Success"), ("Output", "one"), ("Output", "two"), ("Output", "three")], ["raw"]
    )
    assert message.output == ["one", "two", "three", "raw"]
    assert message.to_dict() == {"Response": "Success", "Output": ["one", "two", "three", "raw"]}
    single = make_message([("Response", "Follows"), ("Output", "x")], ["y"])
    assert single.to_dict()["Output"] == ["x", "y"]
    legacy = make_message([("Response", "Follows")], ["a", "b"])
    assert legacy.to_dict() == {"Response": "Follows", "Output": ["a", "b"]}


_LINE_TEXT = st.lists(
    st.sampled_from(["a", "B", ":", " ", "\r", "İ", "ß", "Event", "ActionID", "actionid"]), max_size=8
).map("".join)


@settings(max_examples=300, deadline=None)
@given(
    first=st.sampled_from(["Event:", "Response:", "Action:", "event:", "RESPONSE :", "ActionID:", "x"]),
    lines=st.lists(_LINE_TEXT.filter(bool), max_size=6),  # the text of one message has no blank line
    key=st.sampled_from(["Event", "event", "ActionID", "actionid", "a", "B", "İ", "", "a:b", "Missing"]),
)
def test_messages_split_on_first_use_equal_eagerly_parsed_ones(
    first: str, lines: list[str], key: str
) -> None:
    text = "\r\n".join([first + " X", *lines])

    def eagerly(text: str) -> Message:
        return make_message(*parse_header_lines(text + "\r\n"))  # the stream cut that CRLF off

    (lazy,) = messages_from_texts([text], eagerly)
    eager = eagerly(text)
    assert type(lazy) is type(eager)
    assert lazy.get(key) == eager.get(key)
    assert lazy.get(key, "default") == eager.get(key, "default")
    assert lazy.headers == eager.headers and lazy.lines == eager.lines
    assert lazy == eager and hash(lazy) == hash(eager)


def test_message_from_text_declines_unclear_first_lines() -> None:
    assert message_from_text("ActionID: 1\r\nResponse: Success") is None
    assert message_from_text("\r\nEvent: X") is None
    assert type(message_from_text("action: Ping")) is Action
