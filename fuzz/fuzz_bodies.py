"""atheris target: AJAM body parsers (rawman, mxml, HTML ``manager``) behind ``parse_body``.

Property: any bytes give a list of messages or a ``RemoteProtocolError``; nothing else escapes (no
``KeyError``/``IndexError``/XML library exception, no entity expansion: defusedxml refuses it).
"""

from __future__ import annotations

import sys

import atheris

with atheris.instrument_imports():
    from ajam.errors import RemoteProtocolError
    from ajam.protocol.http import Encoder, parse_body
    from ajam.protocol.message import Message

ENCODERS = list(Encoder)


def test_one_input(raw: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(raw)
    encoder = ENCODERS[fdp.ConsumeIntInRange(0, len(ENCODERS) - 1)]
    body = fdp.ConsumeBytes(fdp.remaining_bytes())
    try:
        messages = parse_body(encoder, body)
    except RemoteProtocolError:
        return
    assert all(isinstance(message, Message) for message in messages)
    for message in messages:
        message.to_dict()


def main() -> None:
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
