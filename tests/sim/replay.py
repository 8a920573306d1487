"""Replay a ground-truth capture against the simulator and compare its answers with Asterisk's.

Usage (any transcript, TCP or HTTP)::

    report = await replay(load(path), host="127.0.0.1", ami_port=sim.ami_port, http_port=sim.http_port)
    report.assert_matches()

How it works:

* Every ``C>S`` chunk is sent as recorded, after the server has answered everything the capture shows
  before it (optionally also waiting for the recorded time, scaled: ``time_scale``). Values that only the
  server can know are rewritten in the client bytes first: the ``mansession_id`` cookie, the digest
  ``nonce``/``opaque``/``response`` (recomputed with the password that produced the recorded one, or a
  wrong one if none of the configured users' did), the ``Host`` port, channel-name counters and
  Uniqueids (learned from earlier answers).
* ``S>C`` data is compared message by message after parsing with ``ajam.protocol`` (rawman/AMI
  stream, mxml, HTML), through a normaliser that masks only what legitimately varies: timestamps,
  ``Date``, ``EventTV``/``SessionTV``, ``SessionID``, cookies, nonces, ports, uptime/reload times,
  challenge numbers, processed-call counts, Uniqueid/Linkedid and channel counters (mapped to
  first-seen labels so their *relations* are still checked), and the session table of ``manager show
  connected``. Framing is checked too: every AMI message must be CRLF lines plus a blank line.
* ``EOF`` chunks require the server to close the connection; curl captures (requests only in the
  ``NOTE`` chunk, ``-i`` output with the bodies of intermediate 401s hidden) are turned into the same
  request/response steps.
* ``order="bursts"`` compares runs of consecutive events as multisets (for captures whose event order
  is racy in Asterisk itself); ``merge_waitevents`` compares the events of consecutive WaitEvent polls
  as one stream (Asterisk polls once a second, the simulator answers at once, so the split differs).
"""

from __future__ import annotations

import asyncio
import inspect
import re
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlsplit

from ajam.protocol.auth import challenge_key
from ajam.protocol.digest import digest_response, parse_digest_params
from ajam.protocol.encode import encode_message
from ajam.protocol.http import Encoder, parse_body
from ajam.protocol.message import Message
from ajam.protocol.stream import Banner, StreamParser
from tests.support.transcripts import Transcript, split_http_response

Pairs = tuple[tuple[str, str], ...]
NoteHook = Callable[[str], object]

DEFAULT_SECRETS = {"admin": "s3cret", "limited": "limited1"}
WRONG_SECRET = "not-the-secret"

# Keys whose values vary between runs of the same conversation.
_MASKED_KEYS = frozenset(
    k.lower()
    for k in (
        "Timestamp", "EventTV", "SessionTV", "SessionID", "Uptime", "LastReload", "Challenge",
        "CoreStartupDate", "CoreStartupTime", "CoreReloadDate", "CoreReloadTime", "CoreProcessedCalls",
        "LoginTime", "EventTime", "StartTime", "AnswerTime", "EndTime",
        # RTP/RTCP statistics (RTCPSent/RTCPReceived): random SSRCs, clock-dependent counters
        "SSRC", "SentNTP", "SentRTP", "SentPackets", "SentOctets", "MES", "DLSR", "LSR",
    )
)  # fmt: skip
_ID_KEY = re.compile(r"(uniqueid|linkedid)$", re.IGNORECASE)
_ADDRESS_KEY = re.compile(r"(localaddress|remoteaddress)$", re.IGNORECASE)
_CHANNEL_COUNTER = re.compile(r"(?<=-)[0-9a-f]{8}(?=[;,\"\s]|$)")
_UNIQUEID_VALUE = re.compile(r"\b\d{9,11}\.\d+\b")
_UUID = re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b")
_RTCP_REPORT_KEY = re.compile(r"^Report\d+", re.IGNORECASE)
_RTP_ADDRESS = re.compile(r"^(\d{1,3}(?:\.\d{1,3}){3}):\d+$")
_UPTIME_OUTPUT = re.compile(r"^(System uptime|Last reload): .*$")
_CONNECTED_ROW = re.compile(r"^  \S*\s+\S+\s+\d+\s+\d+\s+-?\d+\s+\d+\s+\d{10}\s+\d{10}$")
_USERS_CONNECTED = re.compile(r"^\d+ users connected\.$")
_HTTP_MASKED = frozenset({"date"})


@dataclass
class Labels:
    """Maps varying identifiers to stable labels, separately for each side.

    Uniqueids and channel counters grow monotonically in Asterisk and in the simulator, so they are
    labelled by *rank* (``prepare`` registers a batch in sorted order): a list whose order is racy
    (CoreShowChannel items) still gets the same labels on both sides.
    """

    kind: str
    sort_key: Callable[[str], tuple[int, ...]] | None = None
    seen: dict[str, str] = field(default_factory=dict)

    def __call__(self, value: str) -> str:
        if value not in self.seen:
            self.seen[value] = f"<{self.kind}{len(self.seen) + 1}>"
        return self.seen[value]

    def prepare(self, values: Iterable[str]) -> None:
        fresh = {value for value in values if value not in self.seen}
        for value in sorted(fresh, key=self.sort_key) if self.sort_key else fresh:
            self(value)

    def by_label(self) -> dict[str, str]:
        return {label: value for value, label in self.seen.items()}


def _uniqueid_key(value: str) -> tuple[int, ...]:
    return tuple(int(part) for part in value.split(".") if part.isdigit())


def _counter_key(value: str) -> tuple[int, ...]:
    return (int(value, 16),)


@dataclass
class Side:
    """Normalisation state of one side (recorded or actual)."""

    ids: Labels = field(default_factory=lambda: Labels("id", _uniqueid_key))
    channels: Labels = field(default_factory=lambda: Labels("chan", _counter_key))
    uuids: Labels = field(default_factory=lambda: Labels("uuid"))

    def prepare(self, messages: Iterable[Message]) -> None:
        ids: list[str] = []
        counters: list[str] = []
        for message in messages:
            for key, value in message.headers:
                if _ID_KEY.search(key) and _UNIQUEID_VALUE.fullmatch(value):
                    ids.append(value)
                counters += _CHANNEL_COUNTER.findall(value)
        self.ids.prepare(ids)
        self.channels.prepare(counters)


def learn(sides: tuple[Side, Side], rewrites: Rewrites) -> None:
    """Recorded → actual values for ids and channel counters that got the same label on both sides."""
    for kind, prefix in (("ids", ""), ("channels", "-")):
        recorded = getattr(sides[0], kind).by_label()
        actual = getattr(sides[1], kind).by_label()
        for label, value in recorded.items():
            if label in actual:
                rewrites.learn(prefix + value, prefix + actual[label])


def normalise_headers(headers: Iterable[tuple[str, str]], side: Side) -> Pairs:
    result: list[tuple[str, str]] = []
    for key, value in headers:
        lowered = key.lower()
        if lowered in _MASKED_KEYS or _RTCP_REPORT_KEY.match(key):
            value = "<masked>"
        elif lowered == "lastcall" and re.fullmatch(r"\d{10}", value):
            value = "<epoch>"
        elif lowered in ("from", "to") and _RTP_ADDRESS.match(value):
            value = _RTP_ADDRESS.sub(r"\1:<port>", value)
        elif lowered == "value" and _previous_key_value(result, "Variable").startswith("RTPAUDIOQOS"):
            value = "<rtp-stats>"
        elif _ADDRESS_KEY.search(key):
            value = value.rsplit("/", 1)[0] + "/<port>"
        elif _ID_KEY.search(key) and value:
            value = side.ids(value)
        elif lowered == "output":
            if _UPTIME_OUTPUT.match(value):
                value = value.split(":", 1)[0] + ": <uptime>"
            elif _CONNECTED_ROW.match(value):
                continue
            elif _USERS_CONNECTED.match(value):
                value = "<n> users connected."
        else:
            value = _CHANNEL_COUNTER.sub(lambda m: side.channels(m.group(0)), value)
            value = _UNIQUEID_VALUE.sub(lambda m: side.ids(m.group(0)), value)
            value = _UUID.sub(lambda m: side.uuids(m.group(0)), value)
        result.append((key, value))
    return tuple(result)


def _previous_key_value(pairs: list[tuple[str, str]], key: str) -> str:
    return next((v for k, v in reversed(pairs) if k.lower() == key.lower()), "")


@dataclass
class ReplayReport:
    name: str
    mismatches: list[str] = field(default_factory=list)
    compared: int = 0

    def fail(self, text: str) -> None:
        self.mismatches.append(text)

    def assert_matches(self) -> None:
        assert self.compared > 0, f"{self.name}: nothing was compared"
        assert not self.mismatches, f"{self.name}: " + "\n".join(self.mismatches[:20])


@dataclass
class Rewrites:
    """Recorded value → value the simulator used, learned from answers compared so far."""

    values: dict[str, str] = field(default_factory=dict)

    def learn(self, recorded: str, actual: str) -> None:
        if recorded != actual and recorded:
            self.values[recorded] = actual

    def apply(self, text: str) -> str:
        for recorded in sorted(self.values, key=len, reverse=True):
            text = text.replace(recorded, self.values[recorded])
        return text


def _compare_messages(
    report: ReplayReport,
    where: str,
    expected: Sequence[Message],
    actual: Sequence[Message],
    sides: tuple[Side, Side],
    rewrites: Rewrites,
    order: str,
) -> None:
    sides[0].prepare(expected)
    sides[1].prepare(actual)
    want = [(normalise_headers(m.headers, sides[0]), m.lines) for m in expected]
    have = [(normalise_headers(m.headers, sides[1]), m.lines) for m in actual]
    learn(sides, rewrites)
    report.compared += len(want)
    if order == "bursts":
        want_groups, have_groups = _bursts(want), _bursts(have)
        if want_groups != have_groups:
            report.fail(
                f"{where}: messages differ (bursts compared as multisets)\n{_burst_diff(want_groups, have_groups)}"
            )
        return
    if want != have:
        report.fail(f"{where}: messages differ\n{_diff(want, have)}")


def _bursts(messages: list[tuple[Pairs, tuple[str, ...]]]) -> list[object]:
    groups: list[object] = []
    run: Counter[object] = Counter()
    for message in messages:
        if message[0] and message[0][0][0].lower() == "event":
            run[message] += 1
            continue
        if run:
            groups.append(run)
            run = Counter()
        groups.append(message)
    if run:
        groups.append(run)
    return groups


def _burst_diff(want: list[object], have: list[object]) -> str:
    """The first burst that differs: which events are missing and which are extra."""
    for index in range(max(len(want), len(have))):
        left = want[index] if index < len(want) else None
        right = have[index] if index < len(have) else None
        if left == right:
            continue
        if isinstance(left, Counter) and isinstance(right, Counter):
            missing, extra = left - right, right - left
            return (
                f"burst #{index}: {sum(left.values())} events expected, {sum(right.values())} got"
                f"\n  missing: {_short(missing)}\n  extra: {_short(extra)}"
            )
        return f"group #{index}: expected {left}\n  got {right}"
    return "no difference"


def _short(events: Counter[object]) -> str:
    shown = []
    for message, count in list(events.items())[:4]:
        pairs = message[0] if isinstance(message, tuple) else ()
        shown.append(f"{count}x {pairs[:1]}{pairs[1:6]}...")
    return "; ".join(shown) or "none"


def _describe_difference(
    left: tuple[Pairs, tuple[str, ...]] | None, right: tuple[Pairs, tuple[str, ...]] | None
) -> str:
    """``Cdr: Duration '0' != '5'`` when only values differ, else both messages in full."""
    if left is not None and right is not None and [k for k, _ in left[0]] == [k for k, _ in right[0]]:
        name = left[0][0][1] if left[0] else "?"
        changes = [f"{k} {a!r} != {b!r}" for (k, a), (_, b) in zip(left[0], right[0], strict=True) if a != b]
        return f"{name}: " + "; ".join(changes or ["raw lines differ"]) + " (expected != got)"
    return f"expected {left}\n        got {right}"


def _diff(want: list[tuple[Pairs, tuple[str, ...]]], have: list[tuple[Pairs, tuple[str, ...]]]) -> str:
    lines = [f"expected {len(want)} messages, got {len(have)}"]
    for index in range(max(len(want), len(have))):
        left = want[index] if index < len(want) else None
        right = have[index] if index < len(have) else None
        if left != right:
            lines.append(f"  #{index}: {_describe_difference(left, right)}")
            if len(lines) > 8:
                break
    return "\n".join(lines)


# --- AMI (TCP) ------------------------------------------------------------------------------------


class AmiReader:
    """Reads the simulator's stream with ajam's parser and keeps the raw bytes for the framing check."""

    def __init__(self, reader: asyncio.StreamReader) -> None:
        self.reader = reader
        self.parser = StreamParser(expect_banner=True)
        self.items: list[Message | Banner] = []
        self.raw = bytearray()
        self.eof = False

    async def until(self, count: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while len(self.items) < count and not self.eof:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            try:
                data = await asyncio.wait_for(self.reader.read(65536), remaining)
            except TimeoutError:
                return
            except ConnectionError:
                data = b""
            if not data:
                self.eof = True
                self.parser.receive_eof()
            else:
                self.raw += data
                self.parser.receive_data(data)
            self.items.extend(self.parser)

    async def wait_eof(self, timeout: float) -> bool:
        await self.until(len(self.items) + 1_000_000, timeout)
        return self.eof


async def replay_ami(
    transcript: Transcript,
    *,
    host: str,
    port: int,
    time_scale: float = 0.0,
    timeout: float = 5.0,
    order: str = "strict",
    secrets_by_user: dict[str, str] | None = None,
    on_note: NoteHook | None = None,
) -> ReplayReport:
    secrets_by_user = secrets_by_user or DEFAULT_SECRETS
    report = ReplayReport(transcript.name)
    reader, writer = await asyncio.open_connection(host, port)
    stream = AmiReader(reader)
    rewrites = Rewrites()
    expected_parser = StreamParser(expect_banner=True)
    expected: list[Message | Banner] = []
    saw_eof = False
    started = time.monotonic()
    try:
        for chunk in transcript.chunks:
            if chunk.kind == "S>C":
                expected_parser.receive_data(chunk.data)
                expected.extend(expected_parser)
            elif chunk.kind == "C>S":
                await stream.until(len(expected), timeout)
                await _wait_until(started, chunk.time * time_scale)
                try:
                    writer.write(
                        rewrites_apply(rewrites, chunk.data, expected, stream.items, secrets_by_user)
                    )
                    await writer.drain()
                except ConnectionError:
                    report.fail(
                        f"t=+{chunk.time}s: the server closed the connection before this client message"
                    )
                    break
            elif chunk.kind == "NOTE" and on_note is not None:
                await _wait_until(started, chunk.time * time_scale)
                result = on_note(chunk.data.decode("utf-8", "replace"))
                if inspect.isawaitable(result):
                    await result
            elif chunk.kind == "EOF":
                await stream.until(len(expected), timeout)
                saw_eof = True
                if not await stream.wait_eof(timeout):
                    report.fail(f"the server did not close the connection (capture: EOF at t=+{chunk.time}s)")
        await stream.until(len(expected), timeout if not saw_eof else 0.5)
        if not saw_eof:
            await stream.until(len(expected) + 1, 0.05)
    finally:
        writer.close()
    _check_ami(report, expected, stream, rewrites, order)
    return report


def rewrites_apply(
    rewrites: Rewrites,
    data: bytes,
    expected: list[Message | Banner],
    actual: list[Message | Banner],
    secrets_by_user: dict[str, str],
) -> bytes:
    exp = [m for m in expected if isinstance(m, Message)]
    act = [m for m in actual if isinstance(m, Message)]
    sides = (Side(), Side())
    sides[0].prepare(exp)
    sides[1].prepare(act)
    learn(sides, rewrites)
    text = rewrites.apply(data.decode("utf-8", "surrogateescape"))
    recorded_challenge = next((m.get("Challenge") for m in reversed(exp) if "Challenge" in m), None)
    actual_challenge = next((m.get("Challenge") for m in reversed(act) if "Challenge" in m), None)
    key = re.search(r"^Key: ([0-9a-fA-F]{32})\r$", text, re.MULTILINE)
    if key and recorded_challenge and actual_challenge:
        for secret in secrets_by_user.values():
            if challenge_key(recorded_challenge, secret) == key.group(1).lower():
                text = text.replace(key.group(1), challenge_key(actual_challenge, secret))
                break
    return text.encode("utf-8", "surrogateescape")


def _check_ami(
    report: ReplayReport, expected: list[Message | Banner], stream: AmiReader, rewrites: Rewrites, order: str
) -> None:
    actual = stream.items
    if not expected or not isinstance(expected[0], Banner):
        report.fail("the capture does not start with the banner")
        return
    report.compared += 1
    if not actual or actual[0] != expected[0]:
        report.fail(f"banner: expected {expected[0]!r}, got {actual[:1]!r}")
        return
    exp_messages = _own_security_events([m for m in expected[1:] if isinstance(m, Message)])
    act_messages = _own_security_events([m for m in actual[1:] if isinstance(m, Message)])
    _compare_messages(report, "AMI stream", exp_messages, act_messages, (Side(), Side()), rewrites, order)
    all_actual = [m for m in actual[1:] if isinstance(m, Message)]
    canonical = expected[0].encode() + b"".join(encode_message(m.headers) for m in all_actual)
    if bytes(stream.raw) != canonical:
        report.fail("framing: the simulator's bytes are not canonical 'Key: Value' CRLF lines + blank line")


def _own_security_events(messages: list[Message]) -> list[Message]:
    """Drop security events about *other* clients' connections (sip_10 was captured while a second
    AMI client logged in): the session's own address is the one of the first SuccessfulAuth."""
    own = next((m.get("RemoteAddress") for m in messages if m.get("Event") == "SuccessfulAuth"), None)
    return [
        m
        for m in messages
        if own is None or "security" not in m.get("Privilege", "") or m.get("RemoteAddress") in (None, own)
    ]


async def _wait_until(started: float, offset: float) -> None:
    delay = started + offset - time.monotonic()
    if delay > 0:
        await asyncio.sleep(delay)


# --- HTTP -----------------------------------------------------------------------------------------


@dataclass
class HttpStep:
    request: bytes | None  # None: open a new connection
    response: bytes | None = None
    compare_body: bool = True
    expect_eof: bool = False
    time: float = 0.0


def http_steps(transcript: Transcript) -> list[HttpStep]:
    """Request/response steps of an HTTP capture (raw client captures and curl captures)."""
    if not transcript.of_kind("C>S"):
        return _curl_steps(transcript)
    steps: list[HttpStep] = []
    current: HttpStep | None = None
    for chunk in transcript.chunks:
        if chunk.kind == "CONNECT":
            steps.append(HttpStep(None, time=chunk.time))
        elif chunk.kind == "C>S":
            current = HttpStep(chunk.data, time=chunk.time)
            steps.append(current)
        elif chunk.kind == "S>C" and current is not None:
            current.response = chunk.data
        elif chunk.kind == "EOF":
            steps.append(HttpStep(None, expect_eof=True, time=chunk.time))
    return steps


def _curl_steps(transcript: Transcript) -> list[HttpStep]:
    note = next((c for c in transcript.chunks if c.kind == "NOTE" and b"\n> " in c.data), None)
    output = b"".join(c.data for c in transcript.of_kind("S>C"))
    if note is None:
        return []
    requests: list[bytes] = []
    current: list[bytes] = []
    for line in note.data.split(b"\n"):
        if line.startswith(b"> "):
            current.append(line[2:].rstrip(b"\r"))
            if line[2:].strip() == b"":
                requests.append(b"\r\n".join(current[:-1]) + b"\r\n\r\n")
                current = []
    responses = _split_curl_output(output, len(requests))
    steps = [HttpStep(None)]
    for index, (request, response) in enumerate(zip(requests, responses, strict=False)):
        steps.append(HttpStep(request, response, compare_body=index == len(requests) - 1))
    return steps


def _split_curl_output(output: bytes, count: int) -> list[bytes]:
    starts = [m.start() for m in re.finditer(rb"HTTP/1\.1 \d{3} ", output)]
    return [
        output[start : (starts[i + 1] if i + 1 < len(starts) else len(output))]
        for i, start in enumerate(starts)
    ][:count]


async def _read_http_response(
    reader: asyncio.StreamReader, *, with_body: bool, timeout: float
) -> bytes | None:
    try:
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout)
    except (TimeoutError, asyncio.IncompleteReadError, ConnectionError):
        return None
    match = re.search(rb"\r\nContent-Length: (\d+)\r\n", head, re.IGNORECASE)
    length = int(match.group(1)) if match else 0
    if not with_body or not length:
        return head
    return head + await asyncio.wait_for(reader.readexactly(length), timeout)


class HttpReplay:
    def __init__(
        self,
        transcript: Transcript,
        *,
        host: str,
        port: int,
        secrets_by_user: dict[str, str],
        timeout: float,
        time_scale: float,
        merge_waitevents: bool,
        order: str,
    ) -> None:
        self.transcript = transcript
        self.host = host
        self.port = port
        self.secrets = secrets_by_user
        self.timeout = timeout
        self.time_scale = time_scale
        self.merge_waitevents = merge_waitevents
        self.order = order
        self.report = ReplayReport(transcript.name)
        self.rewrites = Rewrites()
        self.sides = (Side(), Side())
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.pending_events: tuple[list[Message], list[Message]] = ([], [])

    async def run(self) -> ReplayReport:
        started = time.monotonic()
        steps = http_steps(self.transcript)
        try:
            for index, step in enumerate(steps):
                if step.request is None and not step.expect_eof:
                    await self._connect()
                    continue
                if step.expect_eof:
                    await self._expect_eof(step)
                    continue
                await _wait_until(started, step.time * self.time_scale)
                await self._exchange(index, step)
            self._flush_events("end")
        finally:
            await self._close()
        return self.report

    async def _connect(self) -> None:
        await self._close()
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    async def _close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None

    async def _expect_eof(self, step: HttpStep) -> None:
        assert self.reader is not None
        try:
            data = await asyncio.wait_for(self.reader.read(1), self.timeout)
        except TimeoutError:
            data = b"timeout"
        except ConnectionError:
            data = b""
        if data:
            self.report.fail(f"t=+{step.time}s: the server did not close the connection as the capture shows")
        self.report.compared += 1
        await self._close()

    def _rewrite(self, request: bytes) -> bytes:
        head, _, body = request.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        out: list[str] = []
        for line in lines:
            key, sep, value = line.partition(": ")
            lowered = key.lower()
            if sep and lowered == "host":
                line = f"{key}: {self.host}:{self.port}"
            elif sep and lowered == "authorization":
                line = f"{key}: {self._redigest(lines[0].split(' ')[0], value)}"
            elif sep or lines.index(line) == 0:
                line = self.rewrites.apply(line)
            out.append(line)
        text_body = self.rewrites.apply(body.decode("latin-1")).encode("latin-1")
        head_text = "\r\n".join(out)
        if text_body != body:
            head_text = re.sub(
                r"(?im)^(Content-Length: )\d+$", lambda m: f"{m.group(1)}{len(text_body)}", head_text
            )
        return head_text.encode("latin-1") + b"\r\n\r\n" + text_body

    def _redigest(self, method: str, value: str) -> str:
        params = parse_digest_params(value)
        if params is None:
            return value
        recorded_nonce = params.get("nonce", "")
        secret = WRONG_SECRET
        for candidate in self.secrets.values():
            if _digest_of(params, method, candidate, recorded_nonce) == params.get("response"):
                secret = candidate
                break
        nonce = self.rewrites.values.get(recorded_nonce, recorded_nonce)
        response = _digest_of(params, method, secret, nonce)
        value = value.replace(f'response="{params.get("response")}"', f'response="{response}"')
        return value.replace(f'"{recorded_nonce}"', f'"{nonce}"')

    async def _exchange(self, index: int, step: HttpStep) -> None:
        assert step.request is not None and step.response is not None
        if self.writer is None:
            await self._connect()
        assert self.reader is not None and self.writer is not None
        request = self._rewrite(step.request)
        method = request.split(b" ", 1)[0].decode()
        _recorded_status, _, recorded_body = split_http_response(step.response)
        with_body = bool(recorded_body) or method != "HEAD"
        if not step.compare_body:
            with_body = True
        self.writer.write(request)
        await self.writer.drain()
        data = await _read_http_response(self.reader, with_body=with_body, timeout=self.timeout)
        where = f"request #{index} ({request.split(b' HTTP/')[0].decode(errors='replace')[:80]})"
        if data is None:
            self.report.fail(f"{where}: no response")
            return
        self._compare_response(where, request, step, data)

    def _compare_response(self, where: str, request: bytes, step: HttpStep, data: bytes) -> None:
        assert step.response is not None
        want_status, want_headers, want_body = split_http_response(step.response)
        have_status, have_headers, have_body = split_http_response(data)
        self.report.compared += 1
        if want_status != have_status:
            self.report.fail(f"{where}: status {have_status}, expected {want_status}")
            return
        self._learn_http(want_headers, have_headers)
        if [k for k, _ in want_headers] != [k for k, _ in have_headers]:
            self.report.fail(
                f"{where}: header names/order differ\n  expected {want_headers}\n       got {have_headers}"
            )
        for (key, want), (_, have) in zip(want_headers, have_headers, strict=False):
            if not self._header_matches(key, want, have, want_body, have_body):
                self.report.fail(f"{where}: header {key}: expected {want!r}, got {have!r}")
        declared = {k.lower(): v for k, v in have_headers}.get("content-length")
        if declared is not None and have_body and int(declared) != len(have_body):
            self.report.fail(f"{where}: Content-Length {declared} but the body has {len(have_body)} bytes")
        if step.compare_body:
            self._compare_body(where, request, have_headers, want_body, have_body)

    def _learn_http(self, want: list[tuple[str, str]], have: list[tuple[str, str]]) -> None:
        for (key, recorded), (_, actual) in zip(want, have, strict=False):
            if key.lower() == "set-cookie":
                self.rewrites.learn(_cookie_id(recorded), _cookie_id(actual))
            elif key.lower() == "www-authenticate":
                recorded_params = parse_digest_params(recorded) or {}
                actual_params = parse_digest_params(actual) or {}
                self.rewrites.learn(recorded_params.get("nonce", ""), actual_params.get("nonce", ""))

    def _header_matches(self, key: str, want: str, have: str, want_body: bytes, have_body: bytes) -> bool:
        lowered = key.lower()
        if lowered in _HTTP_MASKED:
            return bool(re.fullmatch(r"\w{3}, \d{2} \w{3} \d{4} \d{2}:\d{2}:\d{2} GMT", have))
        if lowered == "set-cookie":
            pattern = re.escape(want).replace(re.escape(_cookie_id(want)), "[0-9a-f]{8}")
            return re.fullmatch(pattern, have) is not None
        if lowered == "www-authenticate":
            return _mask_nonce(want) == _mask_nonce(have)
        if lowered == "content-length" and want != have:
            return len(want_body) != len(have_body) or not want_body
        return want == have

    def _compare_body(
        self, where: str, request: bytes, headers: list[tuple[str, str]], want: bytes, have: bytes
    ) -> None:
        content_type = {k.lower(): v for k, v in headers}.get("content-type", "")
        encoder = {"text/plain": Encoder.RAWMAN, "text/xml": Encoder.MXML}.get(content_type)
        if encoder is None and content_type == "text/html" and not want.startswith(b"<!DOCTYPE"):
            encoder = Encoder.MANAGER
        if encoder is None:
            if want != have:
                self.report.fail(f"{where}: body differs\n  expected {want!r}\n       got {have!r}")
            return
        expected = parse_body(encoder, want)
        actual = parse_body(encoder, have)
        if self.merge_waitevents and _is_waitevent(request):
            self._merge_waitevent(where, expected, actual)
            return
        self._flush_events(where)
        _compare_messages(self.report, where, expected, actual, self.sides, self.rewrites, self.order)
        if encoder is Encoder.RAWMAN and have != b"".join(encode_message(m.headers) for m in actual):
            self.report.fail(f"{where}: rawman body is not canonical 'Key: Value' CRLF lines")

    def _merge_waitevent(self, where: str, expected: list[Message], actual: list[Message]) -> None:
        def envelope(messages: list[Message]) -> list[Message]:
            return [m for m in messages if m.get("Event") in (None, "WaitEventComplete")]

        def events(messages: list[Message]) -> list[Message]:
            return [m for m in messages if m.get("Event") not in (None, "WaitEventComplete")]

        _compare_messages(
            self.report, where, envelope(expected), envelope(actual), self.sides, self.rewrites, "strict"
        )
        self.pending_events[0].extend(events(expected))
        self.pending_events[1].extend(events(actual))

    def _flush_events(self, where: str) -> None:
        want, have = self.pending_events
        if want or have:
            _compare_messages(
                self.report, f"{where}: WaitEvent events", want, have, self.sides, self.rewrites, self.order
            )
        self.pending_events = ([], [])


def _is_waitevent(request: bytes) -> bool:
    target = request.split(b" ", 2)[1].decode("latin-1")
    params = {k.lower(): v for k, v in parse_qsl(urlsplit(target).query)}
    return params.get("action", "").lower() == "waitevent"


def _digest_of(params: dict[str, str], method: str, secret: str, nonce: str) -> str:
    return digest_response(
        username=params.get("username", ""),
        realm=params.get("realm", "asterisk"),
        secret=secret,
        method=method,
        uri=params.get("uri", ""),
        nonce=nonce,
        nc=params.get("nc"),
        cnonce=params.get("cnonce"),
        qop=params.get("qop"),
    )


def _cookie_id(header: str) -> str:
    match = re.search(r'mansession_id="([^"]*)"', header)
    return match.group(1) if match else ""


def _mask_nonce(header: str) -> str:
    return re.sub(r'(nonce|opaque)="[^"]*"', r'\1="<n>"', header)


async def replay(
    transcript: Transcript,
    *,
    host: str,
    ami_port: int,
    http_port: int,
    secrets_by_user: dict[str, str] | None = None,
    timeout: float = 5.0,
    time_scale: float = 0.0,
    merge_waitevents: bool = False,
    order: str = "strict",
    on_note: NoteHook | None = None,
) -> ReplayReport:
    """Replay ``transcript`` against a running simulator; see the module docstring.

    ``on_note(text)`` is called (and awaited if it returns an awaitable) at each ``NOTE`` chunk of an AMI
    capture, at its scaled time: SIP captures use it to start the call the capture started with SIPp.
    """
    if transcript.is_http:
        return await HttpReplay(
            transcript,
            host=host,
            port=http_port,
            secrets_by_user=secrets_by_user or DEFAULT_SECRETS,
            timeout=timeout,
            time_scale=time_scale,
            merge_waitevents=merge_waitevents,
            order=order,
        ).run()
    return await replay_ami(
        transcript,
        host=host,
        port=ami_port,
        time_scale=time_scale,
        timeout=timeout,
        order=order,
        secrets_by_user=secrets_by_user,
        on_note=on_note,
    )
