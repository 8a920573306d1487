"""atheris target: the AMI stream parser (``ajam.protocol.stream.StreamParser``).

Properties checked on every input:
* only ``RemoteProtocolError`` (incl. ``MessageTooLarge``) may escape;
* the messages do not depend on how the bytes are split across reads;
* with a small ``max_message_size`` the buffer never grows past limit + one read.
"""

from __future__ import annotations

import sys

import atheris

with atheris.instrument_imports():
    from ajam.errors import MessageTooLarge, RemoteProtocolError
    from ajam.protocol.message import Message
    from ajam.protocol.stream import Banner, StreamParser

SMALL_LIMIT = 256


def drain(parser: StreamParser, out: list[object]) -> None:
    while True:
        try:
            item = parser.next_message()
        except MessageTooLarge as error:
            out.append(type(error).__name__)
            continue
        if item is None:
            return
        out.append(item.version if isinstance(item, Banner) else _shape(item))


def _shape(message: Message) -> object:
    return (type(message).__name__, message.to_dict(), list(message.lines))


def run(data: bytes, cuts: list[int], *, limit: int | None = None, banner: bool = False) -> list[object]:
    parser = (
        StreamParser(expect_banner=banner)
        if limit is None
        else StreamParser(expect_banner=banner, max_message_size=limit)
    )
    out: list[object] = []
    start = 0
    try:
        for cut in [*cuts, len(data)]:
            chunk = data[start:cut]
            start = cut
            parser.receive_data(chunk)
            drain(parser, out)
            if limit is not None:
                assert parser.buffered <= limit + len(chunk) + 4, (parser.buffered, limit, len(chunk))
        parser.receive_eof()
        drain(parser, out)
    except RemoteProtocolError:
        out.append("fatal")  # e.g. a non-AMI banner: the session cannot go on
    return out


def test_one_input(raw: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(raw)
    count = fdp.ConsumeIntInRange(0, 8)
    data = fdp.ConsumeBytes(max(0, fdp.remaining_bytes() - 2 * count))
    cuts = sorted({fdp.ConsumeIntInRange(0, len(data)) for _ in range(count)}) if data else []
    whole = run(data, [])
    assert run(data, cuts) == whole, "the split across reads changed the messages"
    run(data, cuts, limit=SMALL_LIMIT)
    run(data, cuts, banner=True)


def main() -> None:
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
