"""Developer tool: turn a capture's call events into a call-script fragment (see ``ajam.sim.calls_dsl``).

It replays the capture through the same :class:`~ajam.sim.calls_dsl.Call` the PBX uses and writes, per
event, only what the state cannot derive: snapshot changes (``state=6``), explicit fields, ``!Drop``.
Values are turned into templates (channel names/uniqueids -> ``${A.name}``/``${A.uid}``, bridge ids,
scenario parameters), so the script replays with fresh ids and other callers.

    python -m tests.sim.script_from_capture <capture> <fragment-name> [split-time...] [--param k=v ...]
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from ajam.protocol.stream import parse_messages
from ajam.sim.calls_dsl import Call, Line, Switchboard, Template, default_queues
from ajam.sim.channels import (
    DROP,
    EVENT_KINDS,
    SNAPSHOT_ATTRS,
    Bridge,
    Channel,
    Clock,
    Headers,
    render,
)
from tests.sim.structure import call_events
from tests.support.transcripts import Transcript, load

_UID = re.compile(r"\d{10}\.\d+")
_BRIDGE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_LOCAL = re.compile(r"^(Local/.+)-([0-9a-f]{8})(;[12])$")
_PJSIP = re.compile(r"^(PJSIP/[^-]+)-([0-9a-f]{8})$")
CID_KEYS = frozenset(
    {
        "CallerIDNum",
        "ConnectedLineNum",
        "cid_num",
        "conn_num",
        "CallerIDnum",
        "Source",
        "CallerIDani",
        "CallerID",
    }
)


# Queue members' call counts left by the captures recorded before (the SIP captures ran one after
# another on the same Asterisk: sip_07 starts after 103 took sip_06's call). Replays seed the same.
PRIOR_CALLS_TAKEN: dict[str, dict[str, int]] = {"sip_07": {"PJSIP/103": 1}}


def seed_prior_calls(board: Switchboard, capture_name: str, now: float) -> None:
    for interface, taken in PRIOR_CALLS_TAKEN.get(capture_name[:6], {}).items():
        for queue in board.queues.values():
            member = queue.member(interface)
            if member is not None:
                member.calls_taken = taken
                member.last_call = int(now) - 60


def media_channels(transcript: Transcript) -> set[str]:
    """Channels whose RTP the capture shows (RTCPSent reports); their scripts say ``media=on``."""
    found: set[str] = set()
    for chunk in transcript.of_kind("S>C"):
        for message in parse_messages(chunk.data) if b"RTCPSent" in chunk.data else []:
            if message.get("Event") == "RTCPSent" and message.get("Channel"):
                found.add(message.get("Channel", ""))
    return found


class Converter:
    def __init__(self, params: dict[str, str], media: set[str] | None = None) -> None:
        self.board = Switchboard(Clock(), lambda headers: None)
        self.board.queues = default_queues(0.0)
        self.media = media or set()
        self.call = Call(self.board, params=dict(params), action_id="orig-1", start=1.0)
        self.params = params
        self.by_uid: dict[str, str] = {}  # capture uniqueid -> ref
        self.names: dict[str, str] = {}  # capture channel name -> ref
        self.bridges: dict[str, str] = {}  # capture bridge id -> %n
        self.local_slots: dict[str, str] = {}  # capture Local number -> L<n>

    # ------------------------------------------------------------ templating
    def template(self, key: str, value: str) -> str:
        if key == "LoginTime":
            return "${boot}"
        if key == "LastCall" and value != "0":
            return "${now}"
        if key == "ActionID":
            return "${action_id}"
        out = value
        for name in sorted(self.names, key=len, reverse=True):
            out = out.replace(name, f"${{{self.names[name]}.name}}")
        out = _UID.sub(
            lambda m: f"${{{self.by_uid[m.group()]}.uid}}" if m.group() in self.by_uid else m.group(), out
        )
        out = _BRIDGE.sub(lambda m: f"${{{self.bridge_ref(m.group())}}}", out)
        for number, slot in self.local_slots.items():
            out = out.replace(f"-{number}", f"-${{{slot}}}")
        cid_first = key in CID_KEYS
        ordered = sorted(
            self.params.items(), key=lambda kv: (kv[0].startswith("cid") != cid_first, -len(kv[1]))
        )
        for param, param_value in ordered:
            if param_value:
                out = re.sub(r"(?<![\w$])" + re.escape(param_value) + r"(?!\w)", f"${{p.{param}}}", out)
        return out

    def bridge_ref(self, uid: str) -> str:
        return self.bridges.setdefault(uid, f"%{len(self.bridges) + 1}")

    def channel_name(self, name: str) -> str:
        local = _LOCAL.match(name)
        if local:
            slot = self.local_slots.setdefault(local.group(2), f"L{len(self.local_slots) + 1}")
            return f"{local.group(1)}-${{{slot}}}{local.group(3)}"
        pjsip = _PJSIP.match(name)
        if pjsip:
            return f"{pjsip.group(1)}-${{seq}}"
        return name

    # ------------------------------------------------------------ one event
    def ref_for(
        self, uid: str, name: str, updates: list[tuple[str, str, str]], linked: str | None = None
    ) -> str:
        ref = self.by_uid.get(uid)
        if ref is None:
            ref = chr(ord("A") + len(self.by_uid))
            updates.append((ref, "new", self.channel_name(name)))
            self.call.update(ref, "new", Template(self.channel_name(name)).render(self.call))
            self.by_uid[uid] = ref
            self.names[name] = ref
            target = self.by_uid.get(linked or uid)
            if target is not None and target != ref:
                updates.append((ref, "link", target))
                self.call.update(ref, "link", target)
        return ref

    def convert(self, time: float, elapsed: float, headers: Headers) -> Line:
        """``time``: seconds since the fragment started; ``elapsed``: since the first event."""
        self.call.offset = elapsed
        kind = EVENT_KINDS[headers[0][1]]
        values = dict(headers)
        updates: list[tuple[str, str, str]] = []
        refs: list[str | None] = []
        for prefix in kind.blocks:
            uid = values.get(prefix + "Uniqueid")
            linked = values.get(prefix + "Linkedid")
            refs.append(
                None if uid is None else self.ref_for(uid, values[prefix + "Channel"], updates, linked)
            )
        if kind.name in ("CEL", "Cdr"):
            refs.append(self.ref_for(values["UniqueID"], values["Channel"], updates, values.get("LinkedID")))
        bridge_ref = None
        if "BridgeUniqueid" in values and kind.name != "AttendedTransfer":
            bridge_ref = self.bridge_ref(values["BridgeUniqueid"])
        for prefix, ref in zip(kind.blocks, refs, strict=False):
            if ref is not None:
                self.snapshot_updates(prefix, ref, values, updates)
        if kind.name == "Newstate" and values.get("ChannelState") == "6" and values["Channel"] in self.media:
            updates.append((refs[0] or "", "media", "on"))
            self.media.discard(values["Channel"])
        if kind.name == "Newexten" and refs[0] is not None:
            channel = self.call.refs[refs[0]]
            for attr, key in (("app", "Application"), ("appdata", "AppData")):
                if getattr(channel, attr) != values[key]:
                    updates.append((refs[0], attr, self.template(key, values[key])))
                    setattr(channel, attr, values[key])
        channels = tuple(self.call.refs[ref] if ref else None for ref in refs)
        bridge = self.call.bridge(bridge_ref) if bridge_ref else None
        self.call.before(kind.name, next((c for c in channels if c is not None), None), bridge)
        fields = self.field_overrides(kind.name, channels, bridge, headers)
        rendered_given = {key: Template(value).render(self.call) for key, value in fields}
        ctx = self.call.context(kind.name, channels, bridge, rendered_given)
        rendered = render(kind, ctx, rendered_given)
        self.check(headers, rendered, kind.varying)
        first = next((c for c in channels if c is not None), None)
        self.call.after(kind.name, first, bridge, rendered_given, channels)
        return Line(
            round(time, 3),
            kind.name,
            tuple(refs),
            bridge_ref,
            tuple((ref, attr, Template(value)) for ref, attr, value in updates),
            tuple((key, Template(value)) for key, value in fields),
        )

    def snapshot_updates(
        self, prefix: str, ref: str, values: dict[str, str], updates: list[tuple[str, str, str]]
    ) -> None:
        channel = self.call.refs[ref]
        for key, attr in SNAPSHOT_ATTRS.items():
            captured = values[prefix + key]
            if key == "Channel" and self.names.get(captured) == ref:
                continue
            if str(getattr(channel, attr)) != captured:
                value = self.template(key, captured) if key != "Channel" else self.channel_name(captured)
                updates.append((ref, attr, value))
                self.call.update(ref, attr, Template(value).render(self.call))
                if key == "Channel":
                    self.names[captured] = ref
        target = self.by_uid[values[prefix + "Linkedid"]]
        if channel.linkedid != self.call.refs[target].uniqueid:
            updates.append((ref, "link", target))
            self.call.update(ref, "link", target)

    def field_overrides(
        self, kind_name: str, channels: tuple[Channel | None, ...], bridge: object, headers: Headers
    ) -> list[tuple[str, str]]:
        kind = EVENT_KINDS[kind_name]
        keyed = {key: Template(self.template(key, value)).render(self.call) for key, value in headers}
        ctx = self.call.context(kind_name, channels, bridge if isinstance(bridge, Bridge) else None, keyed)
        default = dict(render(kind, ctx, {}))
        own = {key for key, _ in kind.fields} | set(kind.lead)
        captured_keys = [key for key, _ in headers]
        fields: list[tuple[str, str]] = []
        for key, value in headers[2:]:
            in_block = any(key == p + s for p in kind.blocks for s in SNAPSHOT_ATTRS) or key.endswith(
                ("Uniqueid", "Linkedid", "ChannelStateDesc")
            )
            if key in ("BridgeUniqueid", "BridgeType", "BridgeTechnology", "BridgeCreator", "BridgeName",
                       "BridgeNumChannels", "BridgeVideoSourceMode") and kind.bridge:  # fmt: skip
                if key != "BridgeUniqueid" and default.get(key) != value:
                    fields.append((key, value))
                continue
            if in_block and key not in own:
                continue
            if key in kind.varying:
                continue
            if default.get(key) != value or key not in own:
                fields.append((key, self.template(key, value)))
        for key, _ in kind.fields:
            if key not in captured_keys:
                fields.append((key, DROP))
        captured = dict(headers)
        for item in list(fields):
            trial = {k: Template(v).render(self.call) for k, v in fields if (k, v) != item}
            if item[0] in captured and _normal(dict(render(kind, ctx, trial)).get(item[0], "")) == _normal(
                captured[item[0]]
            ):
                fields.remove(item)
        return fields

    def check(self, captured: Headers, rendered: Headers, varying: frozenset[str]) -> None:
        if [k for k, _ in captured] != [k for k, _ in rendered]:
            raise AssertionError(f"layout differs:\n{captured}\n{rendered}")
        for (key, want), (_, got) in zip(captured, rendered, strict=True):
            if key in varying or key == "BridgeUniqueid" or key.endswith(("Uniqueid", "Linkedid")):
                continue
            if _normal(want) != _normal(got):
                raise AssertionError(f"{captured[0][1]}: {key}: capture {want!r} != rendered {got!r}")


def _normal(value: str) -> str:
    value = _UID.sub("UID", _BRIDGE.sub("BRIDGE", value))
    return re.sub(r"-[0-9a-f]{8}(?=;|$|\b)", "-N", re.sub(r"\b1\.\d+\b", "UID", value))


def convert(path: Path, name: str, splits: list[float], params: dict[str, str]) -> str:
    transcript = load(path)
    converter = Converter(params, media_channels(transcript))
    seed_prior_calls(converter.board, path.stem, converter.call.now)
    events = call_events(transcript)
    out: list[str] = []
    bounds = [0.0, *splits]
    part = 0
    base = events[0][0] if events else 0.0
    out.append(f"== {name}" + (f".{part + 1}" if splits else ""))
    for time, headers in events:
        while part + 1 < len(bounds) and time >= bounds[part + 1]:
            part += 1
            base = bounds[part]
            out.append(f"== {name}.{part + 1}")
        line = converter.convert(time - base, time - events[0][0], headers)
        out.append(line.format())
    return "\n".join(out) + "\n"


def main(argv: list[str]) -> None:
    if argv == ["--all"]:
        generate_all()
        return
    path, name, *rest = argv
    params = dict(item.split("=", 1) for item in rest if "=" in item)
    splits = [float(item) for item in rest if "=" not in item]
    sys.stdout.write(convert(Path(path), name, splits, params))


LOCAL_CID = {"cid_num": "100", "cid_name": "AMI Test"}
SIP_INBOUND = {"caller_num": "79161234567", "caller_name": "Мария Иванова"}
CLICK = {
    "cid_num": "84951112233",
    "cid_name": "Звонок клиенту",
    "dial": "84951112233",
    "number": "4951112233",
}

# scenario name -> (capture, split times (capture seconds), parameters)
CAPTURES: dict[str, tuple[str, list[float], dict[str, str]]] = {
    "originate_answered": ("transcripts/ami_20_originate_answered.txt", [], LOCAL_CID),
    "originate_busy": ("transcripts/ami_21_originate_busy.txt", [], LOCAL_CID),
    "originate_noanswer": ("transcripts/ami_22_originate_noanswer_timeout.txt", [5.0], LOCAL_CID),
    "dial_noanswer": ("transcripts/ami_23_originate_dial_noanswer.txt", [], LOCAL_CID),
    "dial_caller_cancel": ("transcripts/ami_24_originate_dial_caller_cancel.txt", [2.528], LOCAL_CID),
    "originate_cancel_while_ringing": (
        "transcripts/ami_25_originate_cancel_while_ringing.txt",
        [2.507],
        LOCAL_CID,
    ),
    "mixmonitor": ("transcripts/ami_26_originate_mixmonitor.txt", [], LOCAL_CID),
    "mixmonitor_stop": ("transcripts/ami_26b_originate_mixmonitor_stop.txt", [], LOCAL_CID),
    "queue_local": ("transcripts/ami_27_originate_queue.txt", [], LOCAL_CID),
    "dial_answer": ("transcripts/ami_28_originate_dial_answer.txt", [], LOCAL_CID),
    "dial_busy": ("transcripts/ami_29_originate_dial_busy.txt", [], LOCAL_CID),
    "originate_application": ("transcripts/ami_30_originate_application_sync.txt", [], LOCAL_CID),
    "sip_inbound_answered_recorded": (
        "transcripts-sip/sip_01_inbound_answered_recorded.txt",
        [],
        {**SIP_INBOUND, "did": "74951230001"},
    ),
    "sip_inbound_busy": (
        "transcripts-sip/sip_02_inbound_busy.txt",
        [],
        {**SIP_INBOUND, "did": "74951230001"},
    ),
    "sip_inbound_noanswer": (
        "transcripts-sip/sip_03_inbound_noanswer.txt",
        [],
        {**SIP_INBOUND, "did": "74951230001"},
    ),
    "sip_inbound_caller_cancel": (
        "transcripts-sip/sip_04_inbound_caller_cancel.txt",
        [],
        {**SIP_INBOUND, "did": "74951230001"},
    ),
    "sip_ringgroup": (
        "transcripts-sip/sip_05_ringgroup_answered_by_102.txt",
        [],
        {**SIP_INBOUND, "did": "74951230002"},
    ),
    "sip_queue_answered": (
        "transcripts-sip/sip_06_queue_answered_by_103.txt",
        [],
        {**SIP_INBOUND, "did": "74951230003"},
    ),
    "sip_queue_abandoned": (
        "transcripts-sip/sip_07_queue_abandoned.txt",
        [],
        {**SIP_INBOUND, "did": "74951230003"},
    ),
    "sip_internal": ("transcripts-sip/sip_08_internal_101_to_102.txt", [], {}),
    "sip_click_to_call": ("transcripts-sip/sip_09_originate_click_to_call_outbound.txt", [], CLICK),
    "sip_blind_transfer": (
        "transcripts-sip/sip_10_blind_transfer_101_to_102.txt",
        [],
        {**SIP_INBOUND, "did": "74951230001"},
    ),
    "sip_originate_agent_busy": ("transcripts-sip/sip_11_originate_agent_busy.txt", [], CLICK),
    "sip_outbound_busy": ("transcripts-sip/sip_12_originate_outbound_carrier_busy.txt", [], CLICK),
}

_HEADER = '''"""Call scripts converted from the captures in shared/asterisk/{folder}/ (see ajam.sim.calls_dsl).

Generated by ``python -m tests.sim.script_from_capture --all``; one fragment per scenario step.
"""

SCRIPT = r"""
{body}"""
'''


def generate_all() -> None:
    from tests.support.transcripts import SHARED

    outputs = {"local": [], "sip": []}
    for name, (relative, splits, params) in CAPTURES.items():
        text = convert(SHARED / relative, name, splits, params)
        outputs["sip" if relative.startswith("transcripts-sip") else "local"].append(text)
    target = Path(__file__).resolve().parents[2] / "src" / "ajam" / "sim"
    for key, folder in (("local", "transcripts"), ("sip", "transcripts-sip")):
        body = "\n".join(outputs[key])
        (target / f"calls_{key}.py").write_text(_HEADER.format(folder=folder, body=body), encoding="utf-8")


if __name__ == "__main__":
    main(sys.argv[1:])
