"""AJAM endpoints, body dispatch and status diagnosis."""

from __future__ import annotations

from pathlib import Path

import pytest

from ajam.protocol.http import (
    Encoder,
    Endpoint,
    diagnose_status,
    endpoint_from_path,
    parse_body,
)
from tests.protocol.reference import http_bodies, read_body
from tests.support.transcripts import load, split_http_response, transcript_params


@pytest.mark.parametrize(
    ("path", "endpoint"),
    [
        ("/asterisk/rawman", Endpoint("/asterisk", Encoder.RAWMAN, False)),
        ("/asterisk/mxml", Endpoint("/asterisk", Encoder.MXML, False)),
        ("/asterisk/manager", Endpoint("/asterisk", Encoder.MANAGER, False)),
        ("/asterisk/arawman", Endpoint("/asterisk", Encoder.RAWMAN, True)),
        ("/asterisk/amxml/", Endpoint("/asterisk", Encoder.MXML, True)),
        ("/asterisk/amanager", Endpoint("/asterisk", Encoder.MANAGER, True)),
        ("/asterisk", Endpoint("/asterisk", Encoder.RAWMAN, False)),
        ("/pbx/ami", Endpoint("/pbx/ami", Encoder.RAWMAN, False)),
        ("/rawman", Endpoint("/", Encoder.RAWMAN, False)),
    ],
)
def test_endpoint_from_path(path: str, endpoint: Endpoint) -> None:
    assert endpoint_from_path(path) == endpoint


def test_endpoint_path_round_trip() -> None:
    for name in ("rawman", "mxml", "manager", "arawman", "amxml", "amanager"):
        assert endpoint_from_path(f"/asterisk/{name}").path == f"/asterisk/{name}"


def test_content_types_as_asterisk_sends_them() -> None:
    assert [e.content_type for e in Encoder] == ["text/plain", "text/xml", "text/html"]


@pytest.mark.parametrize("path", transcript_params("http_*.txt"))
def test_captured_bodies_parse_with_the_encoder_of_their_path(path: Path) -> None:
    transcript = load(path)
    for request, response in zip(transcript.of_kind("C>S"), transcript.of_kind("S>C")):
        target = request.data.split(b" ")[1].decode().split("?")[0]
        status, headers, body = split_http_response(response.data)
        if status != 200 or not body:
            continue
        encoder = endpoint_from_path(target).encoder
        assert dict(headers)["Content-type"] == encoder.content_type
        messages = parse_body(encoder, body)
        assert messages and all(message.headers for message in messages)
        if encoder is Encoder.RAWMAN:
            assert [list(m.headers) for m in messages] == read_body(body)
    assert all(body for body in http_bodies(transcript, "text/plain"))


@pytest.mark.parametrize(
    ("status", "words"),
    [(200, None), (404, "webenabled"), (401, "Digest"), (501, "method"), (400, "HTTPS"), (500, "500")],
)
def test_diagnose_status(status: int, words: str | None) -> None:
    advice = diagnose_status(status, "/asterisk/rawman")
    if words is None:
        assert advice is None
    else:
        assert advice is not None and words in advice
