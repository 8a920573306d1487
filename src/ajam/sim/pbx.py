"""The simulated PBX's call engine: live state, scenario calls, and the call-related manager actions.

The dispatcher (``sim/dispatch.py``) hands every action in :attr:`Pbx.CALL_ACTIONS` to
:meth:`Pbx.handle` and inserts the ``ActionID`` itself; events go to :meth:`Pbx.subscribe` listeners.
"""

from __future__ import annotations

import asyncio
import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from ajam.protocol.message import Message
from ajam.sim.calls_dsl import Call, EndpointBehaviour, HangupRequested, Switchboard, default_queues
from ajam.sim.channels import UNKNOWN, Channel, Clock, Headers, Queue, QueueMember
from ajam.sim.scenarios import (
    FLOWS,
    LIVE_FLOWS,
    SCENARIO_PARAMS,
    SCENARIOS,
    Flow,
    attended_transfer_flow,
    blind_transfer_flow,
    transfer_target_params,
)
from ajam.sim.traffic import AgentPool, Traffic

__all__ = ["ActionReply", "EndpointBehaviour", "Headers", "Pbx"]

# the simulated dialplans: context -> extensions. "local" is config/extensions.conf + queues.conf (the
# Local-channel captures ran with only these), "sip" adds extensions-sip.conf + queues-sip.conf + pjsip.conf.
LOCAL_DIALPLAN: dict[str, frozenset[str]] = {
    "test": frozenset(
        [
            "answer",
            "busy",
            "noanswer",
            "mixmon",
            "mixmon-stop",
            "autoanswer",
            "sink",
            "dial-noanswer",
            "dial-ring30",
            "dial-answer",
            "dial-busy",
            "queue",
            "echo",
        ]
    ),
    "queue-members": frozenset({"agent"}),
}
SIP_DIALPLAN: dict[str, frozenset[str]] = {
    "from-carrier": frozenset({"74951230001", "74951230002", "74951230003"})
}
DIALPLANS = ("local", "sip", "both")
QUEUES = {"local": ("testq",), "sip": ("support",), "both": ("testq", "support")}
ENDPOINTS = {"101": "Иван Петров", "102": "Anna Smirnova", "103": "Олег Сидоров", "carrier": ""}
ENDPOINT_BEHAVIOURS = ("answer", "busy", "noanswer", "answer_after")
# inbound DID 74951230001 runs Dial(PJSIP/101,15): which captured flow each behaviour of 101 gives
_INBOUND_101 = ("sip_inbound_answered_recorded", "sip_inbound_busy", "sip_inbound_noanswer")
_INBOUND_BY_BEHAVIOUR = {
    "answer": "sip_inbound_answered_recorded",
    "answer_after": "sip_inbound_answered_recorded",
    "busy": "sip_inbound_busy",
    "noanswer": "sip_inbound_noanswer",
}
_CID = re.compile(r'^\s*(?:"?([^"<]*?)"?\s*)?(?:<([^>]*)>)?\s*$')


@dataclass
class ActionReply:
    response: Headers
    list_events: list[Headers] = field(default_factory=list)
    ready: asyncio.Future[ActionReply] | None = None


def _ok(message: str, *extra: tuple[str, str]) -> ActionReply:
    return ActionReply([("Response", "Success"), ("Message", message), *extra])


def _error(message: str) -> ActionReply:
    return ActionReply([("Response", "Error"), ("Message", message)])


def _listing(message: str, items: list[Headers], complete: str, *extra: tuple[str, str]) -> ActionReply:
    done = [("Event", complete), ("EventList", "Complete"), ("ListItems", str(len(items))), *extra]
    return ActionReply(
        [("Response", "Success"), ("EventList", "start"), ("Message", message)], [*items, done]
    )


def _duration(seconds: float) -> str:
    total = max(0, int(seconds))
    return f"{total // 3600:02d}:{total % 3600 // 60:02d}:{total % 60:02d}"


class Pbx:
    """The simulated PBX's calls and call actions.

    ``dialplan`` chooses the configuration: ``"local"`` (extensions.conf + queues.conf: the Local-channel
    test dialplan and queue ``testq``, as the ami_*/http_* captures ran), ``"sip"`` (extensions-sip.conf,
    queues-sip.conf, pjsip.conf: phones 101..103, the carrier trunk, queue ``support``) or ``"both"``.
    A fresh Pbx has the device states app_queue creates at boot for the configured queues.

    SIP phones answer as in the captures unless :meth:`set_endpoint_behaviour` says otherwise. Rules of
    the simulated world: a click-to-call (Originate ``PJSIP/101`` -> ``agents,8<number>``) to a number
    ending in 486 meets a busy carrier (486 Busy Here); an Originate to a phone already in a call (and no
    explicit behaviour) gets its 486.
    """

    CALL_ACTIONS = frozenset(
        [
            "originate",
            "hangup",
            "redirect",
            "setvar",
            "getvar",
            "coreshowchannels",
            "status",
            "queuestatus",
            "queuesummary",
            "messagesend",
            "mixmonitor",
            "stopmixmonitor",
            "devicestatelist",
            "pjsipshowendpoints",
            "blindtransfer",
            "atxfer",
        ]
    )
    SCENARIOS = SCENARIOS

    def __init__(
        self,
        *,
        seed: int | None = None,
        speed: float = 1.0,
        version: str = "22.10.1",
        dialplan: str = "both",
        agents: int | AgentPool = 0,
    ) -> None:
        if dialplan not in DIALPLANS:
            raise ValueError(f"dialplan must be one of {', '.join(DIALPLANS)}, not {dialplan!r}")
        self.version = version
        self.dialplan = dialplan
        self.rng = random.Random(seed)
        self.clock = Clock(speed=speed)
        self._listeners: list[Callable[[Headers], None]] = []
        self.board = Switchboard(self.clock, self._emit)
        self.board.boot = self.clock.now()
        self.board.next_uid = 0
        self.endpoints: dict[str, EndpointBehaviour] = {}
        pool = AgentPool.numbered(agents) if isinstance(agents, int) else agents
        # ``agents``: a pool of extra SIP phones (1001...) that the background traffic spreads its calls over
        self.agent_pool: AgentPool | None = pool if pool.agents and self.has_sip else None
        self._boot_state()
        self.last_reload_at = self.board.boot
        self.global_vars: dict[str, str] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self.traffic = Traffic(self)

    # ------------------------------------------------------------------ configuration
    def _boot_state(self) -> None:
        """Queues of the configured dialplan and the device states app_queue creates at load:
        ``Queue:<q>_avail`` (INUSE while a member is available) and ``Queue:<q>_pause_<member>``."""
        queues = default_queues(self.board.boot)
        self.board.queues = {name: queues[name] for name in QUEUES[self.dialplan]}
        login = int(self.board.boot)
        for name, *members in self.agent_pool.queues if self.agent_pool is not None else ():
            self.board.queues[name] = Queue(
                name,
                members=[
                    QueueMember(member, f"PJSIP/{number}", login_time=login) for number, member in members
                ],
            )
        self.board.devices.clear()
        for queue in self.board.queues.values():
            available = any(m.status == 1 and not m.paused for m in queue.members)
            self.board.devices[f"Queue:{queue.name}_avail"] = "INUSE" if available else "NOT_INUSE"
            for member in queue.members:
                state = "INUSE" if member.paused else "NOT_INUSE"
                self.board.devices[f"Queue:{queue.name}_pause_{member.interface}"] = state

    @property
    def has_sip(self) -> bool:
        return self.dialplan in ("sip", "both")

    def extension_exists(self, context: str, exten: str) -> bool:
        if self.has_sip and context == "agents":
            pool = self.agent_pool.names if self.agent_pool is not None else {}
            return bool(re.fullmatch(r"1\d\d|8\d+", exten)) or exten in pool
        plans = [LOCAL_DIALPLAN] if self.dialplan == "local" else [SIP_DIALPLAN]
        if self.dialplan == "both":
            plans.append(LOCAL_DIALPLAN)
        return any(exten in plan.get(context, frozenset()) for plan in plans)

    def set_endpoint_behaviour(self, endpoint: str, behaviour: str, *, after: float | None = None) -> None:
        """How SIP phone ``endpoint`` (``"101"``...) answers from now on.

        ``"answer"`` answers as in the captures, ``"answer_after"`` answers after ``after`` seconds of
        ringing, ``"busy"`` replies 486 Busy Here, ``"noanswer"`` rings until the caller gives up.
        Originate to ``PJSIP/101`` and the inbound DID 74951230001 scenarios (Dial(PJSIP/101,15)) follow
        it; without a setting the named scenario plays as captured (an Originate to a 101 that is already
        in use gets the busy flow). ``"carrier"`` (the trunk's far end) may be ``"answer"`` or ``"busy"``
        for click-to-call; without a setting it answers 486 only for numbers ending in 486.
        """
        if behaviour not in ENDPOINT_BEHAVIOURS:
            raise ValueError(f"behaviour must be one of {', '.join(ENDPOINT_BEHAVIOURS)}, not {behaviour!r}")
        if endpoint not in ENDPOINTS:
            raise ValueError(f"unknown endpoint {endpoint!r}")
        if endpoint == "carrier" and behaviour not in ("answer", "busy"):
            raise ValueError("the carrier endpoint can only 'answer' or be 'busy'")
        if behaviour == "answer_after" and (after is None or after < 0):
            raise ValueError("answer_after needs after= seconds (>= 0)")
        self.endpoints[endpoint] = EndpointBehaviour(
            behaviour, after if behaviour == "answer_after" else None
        )

    def _flow_for(self, name: str, call: Call) -> str:
        """The scenario the configured endpoint behaviours turn ``name`` into (and answer delays)."""
        carrier = self.endpoints.get("carrier")
        if carrier is not None and name == "sip_click_to_call" and carrier.mode == "busy":
            name = "sip_outbound_busy"
        behaviour = self.endpoints.get("101")
        if behaviour is None:
            return name
        if name in _INBOUND_101:
            name = _INBOUND_BY_BEHAVIOUR[behaviour.mode]
        elif name in ("sip_click_to_call", "sip_outbound_busy") and behaviour.mode == "busy":
            name = "sip_originate_agent_busy"
        return name

    # ------------------------------------------------------------------ events
    def subscribe(self, listener: Callable[[Headers], None]) -> Callable[[], None]:
        self._listeners.append(listener)

        def unsubscribe() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return unsubscribe

    def _emit(self, headers: Headers) -> None:
        for listener in list(self._listeners):
            listener(headers)

    # ------------------------------------------------------------------ lifecycle
    def uptime(self) -> int:
        return int(self.clock.now() - self.board.boot)

    def last_reload(self) -> int:
        return int(self.clock.now() - self.last_reload_at)

    def stop(self, keep_calls: bool) -> None:
        """Fault hook. With ``keep_calls`` (a dropped connection) calls go on and nothing changes here.
        Without it every live call is lost silently: no Hangup events, the channels are simply gone,
        as after an Asterisk restart."""
        if not keep_calls:
            for task in list(self._tasks):
                task.cancel()
            self.board.channels.clear()
            self.board.bridges.clear()
            self.board.recordings.clear()
            for queue in self.board.queues.values():
                queue.callers.clear()

    def restart(self, keep_calls: bool = False) -> None:
        """Asterisk restarted: state reset (unless ``keep_calls``), uptime and last reload start again."""
        self.stop(keep_calls)
        if not keep_calls:
            self.board.boot = self.clock.now()
            self.last_reload_at = self.board.boot
            self._boot_state()

    async def aclose(self) -> None:
        await self.traffic.stop()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # ------------------------------------------------------------------ calls
    def new_call(self, params: dict[str, str], action_id: str | None = None) -> Call:
        call = Call(self.board, params=params, action_id=action_id, endpoints=self.endpoints)
        for endpoint, behaviour in self.endpoints.items():
            if behaviour.after is not None:
                call.answer_after[f"PJSIP/{endpoint}-"] = behaviour.after
        return call

    def spawn(self, flow: Flow, call: Call) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(self._run(flow, call))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _run(self, flow: Flow, call: Call) -> None:
        self.board.calls.add(call)
        try:
            while True:
                try:
                    await flow(call)
                except HangupRequested:
                    pass
                if call.next_flow is None:
                    break
                flow, call.next_flow = call.next_flow, None  # a transfer carries the call on
                call.hangup_requested.clear()
            if call.hangup_requested.is_set() and call.live_channels():
                call.teardown()
        finally:
            self.board.calls.discard(call)

    async def run_scenario(self, name: str, **params: str) -> None:
        if name not in FLOWS:
            raise KeyError(f"unknown scenario {name!r}; known: {', '.join(SCENARIOS)}")
        call = self.new_call({**SCENARIO_PARAMS.get(name, {}), **params}, params.get("action_id"))
        await self.spawn(FLOWS[self._flow_for(name, call)], call)

    def start_traffic(self, calls_per_minute: float) -> None:
        self.traffic.start(calls_per_minute)

    async def stop_traffic(self) -> None:
        await self.traffic.stop()

    # ------------------------------------------------------------------ actions
    async def handle(self, action: str, headers: Message, action_id: str | None) -> ActionReply:
        name = action.lower()
        handler = getattr(self, f"_action_{name}", None)
        if name not in self.CALL_ACTIONS or handler is None:
            return _error("Invalid/unknown command")
        reply: ActionReply = handler(headers, action_id)
        return reply

    def _channels_matching(self, spec: str) -> list[Channel]:
        if len(spec) > 1 and spec.startswith("/") and spec.endswith("/"):
            try:
                pattern = re.compile(spec[1:-1])
            except re.error:
                return []
            return [channel for name, channel in self.board.channels.items() if pattern.search(name)]
        channel = self.board.channels.get(spec)
        return [channel] if channel is not None else []

    def _action_originate(self, headers: Message, action_id: str | None) -> ActionReply:
        target = headers.get("Channel", "")
        if not target:
            return _error("Channel not specified")
        application = headers.get("Application")
        exten = headers.get("Exten")
        context = headers.get("Context", "default")
        wants_dialplan = exten is not None or headers.get("Priority") is not None
        if wants_dialplan and not self.extension_exists(context, exten or "s"):
            return _error("Extension does not exist.")
        name = self._originate_flow(target, context, exten or "", application)
        if name is None:
            return _error("Originate failed")
        cid_name, cid_num = _parse_callerid(headers.get("CallerID", ""))
        params = {**SCENARIO_PARAMS.get(name, {}), "cid_num": cid_num, "cid_name": cid_name}
        timeout = headers.get("Timeout")
        params["timeout"] = str(int(timeout) / 1000) if timeout and timeout.isdigit() else "30"
        if exten and exten.startswith("8"):
            params.update(dial=exten, number=exten[1:])
        if name == "sip_click_to_call" and exten and exten.endswith("486"):
            name = "sip_outbound_busy"  # the simulated carrier answers 486 for numbers ending in 486
        call = self.new_call(params, action_id)
        name = self._flow_for(name, call)
        if (
            name == "sip_click_to_call"
            and "101" not in self.endpoints
            and self.board.devices.get("PJSIP/101") in ("INUSE", "BUSY", "RINGING")
        ):
            name = "sip_originate_agent_busy"  # a phone already in a call answers 486 (no call waiting)
        self.spawn(LIVE_FLOWS[name], call)
        return _ok("Originate successfully queued")

    @staticmethod
    def _originate_flow(target: str, context: str, exten: str, application: str | None) -> str | None:
        local = re.fullmatch(r"Local/([\w-]+)@test", target)
        if local:
            leg = local.group(1)
            if application is not None:
                return "originate_application" if leg == "answer" else None
            by_leg = {"answer": "originate_answered", "busy": "originate_busy", "noanswer": "originate_noanswer",
                      "mixmon": "mixmonitor", "mixmon-stop": "mixmonitor_stop"}  # fmt: skip
            if leg in by_leg:
                return by_leg[leg]
            if leg == "autoanswer":
                return {
                    "sink": "autoanswer_sink",
                    "dial-noanswer": "dial_noanswer",
                    "dial-ring30": "dial_caller_cancel",
                    "dial-answer": "dial_answer",
                    "dial-busy": "dial_busy",
                    "queue": "queue_local",
                }.get(exten)
            return None
        if target == "PJSIP/101" and context == "agents" and exten.startswith("8"):  # needs the SIP dialplan
            return "sip_click_to_call"
        return None

    def _action_hangup(self, headers: Message, action_id: str | None) -> ActionReply:
        spec = headers.get("Channel", "")
        if not spec:
            return _error("No channel specified")
        cause = int(headers.get("Cause", "16") or 16)
        matched = self._channels_matching(spec)
        if not matched:
            return _error("No such channel")
        for channel in matched:
            if isinstance(channel.call, Call):
                channel.call.request_hangup(channel, cause)
        if spec.startswith("/"):
            return _ok(f"Channels hung up: {len(matched)}")
        return _ok("Channel Hungup")

    def _action_redirect(self, headers: Message, action_id: str | None) -> ActionReply:
        matched = self._channels_matching(headers.get("Channel", ""))
        context, exten = headers.get("Context", ""), headers.get("Exten", "")
        if not matched:
            return _error("Channel specified does not exist")
        if not self.extension_exists(context, exten):
            return _error("Extension does not exist.")
        channel = matched[0]
        channel.context, channel.exten, channel.priority = context, exten, headers.get("Priority", "1")
        call = channel.call
        if isinstance(call, Call):
            call.event("Newexten", (channel,), None, {})
        return _ok("Redirect successful")

    def _action_setvar(self, headers: Message, action_id: str | None) -> ActionReply:
        variable, value = headers.get("Variable"), headers.get("Value", "")
        if not variable:
            return _error("No variable specified")
        spec = headers.get("Channel")
        if spec:
            matched = self._channels_matching(spec)
            if not matched:
                return _error("No such channel")
            channel = matched[0]
            if isinstance(channel.call, Call):
                channel.call.event("VarSet", (channel,), None, {"Variable": variable, "Value": value})
        else:
            self.global_vars[variable] = value
        return _ok("Variable Set")

    def _action_getvar(self, headers: Message, action_id: str | None) -> ActionReply:
        variable = headers.get("Variable")
        if not variable:
            return _error("No variable specified")
        spec = headers.get("Channel")
        if spec:
            matched = self._channels_matching(spec)
            if not matched:
                return _error("No such channel")
            value = matched[0].variables.get(variable, "")
        else:
            value = self.global_vars.get(variable, "")
        return ActionReply([("Response", "Success"), ("Variable", variable), ("Value", value)])

    def _action_coreshowchannels(self, headers: Message, action_id: str | None) -> ActionReply:
        now = self.clock.now()
        items = []
        for channel in self.board.channels.values():
            items.append(
                [
                    ("Event", "CoreShowChannel"),
                    *channel.snapshot(),
                    ("Application", channel.app),
                    ("ApplicationData", channel.appdata),
                    ("Duration", _duration(self._age(channel, now))),
                    ("BridgeId", channel.bridge),
                ]
            )
        return _listing("Channels will follow", items, "CoreShowChannelsComplete")

    @staticmethod
    def _age(channel: Channel, now: float) -> float:
        call = channel.call
        return (call.now if isinstance(call, Call) else now) - channel.created

    def _action_status(self, headers: Message, action_id: str | None) -> ActionReply:
        now = self.clock.now()
        spec = headers.get("Channel")
        channels = self._channels_matching(spec) if spec else list(self.board.channels.values())
        items = []
        for channel in channels:
            items.append(
                [
                    ("Event", "Status"),
                    ("Privilege", "Call"),
                    *channel.snapshot(),
                    ("Type", channel.name.split("/")[0]),
                    ("DNID", ""),
                    ("EffectiveConnectedLineNum", channel.conn_num),
                    ("EffectiveConnectedLineName", channel.conn_name),
                    ("TimeToHangup", "0"),
                    ("BridgeID", channel.bridge),
                    ("Application", channel.app),
                    ("Data", channel.appdata),
                    ("Nativeformats", "(ulaw)"),
                    ("Readformat", "ulaw"),
                    ("Readtrans", ""),
                    ("Writeformat", "ulaw"),
                    ("Writetrans", ""),
                    ("Callgroup", "0"),
                    ("Pickupgroup", "0"),
                    ("Seconds", str(int(self._age(channel, now)))),
                ]
            )
        return _listing("Channel status will follow", items, "StatusComplete", ("Items", str(len(items))))

    def _action_queuestatus(self, headers: Message, action_id: str | None) -> ActionReply:
        wanted = headers.get("Queue")
        items: list[Headers] = []
        for queue in self.board.queues.values():
            if wanted and queue.name != wanted:
                continue
            items.append(
                [
                    ("Event", "QueueParams"),
                    ("Queue", queue.name),
                    ("Max", "0"),
                    ("Strategy", queue.strategy),
                    ("Calls", str(len(queue.callers))),
                    ("Holdtime", str(queue.holdtime)),
                    ("TalkTime", str(queue.talktime)),
                    ("Completed", str(queue.completed)),
                    ("Abandoned", str(queue.abandoned)),
                    ("ServiceLevel", "0"),
                    ("ServicelevelPerf", "0.0"),
                    ("ServicelevelPerf2", "0.0"),
                    ("Weight", "0"),
                    ("ActionID", ""),
                ]
            )
            for member in queue.members:
                items.append(
                    [
                        ("Event", "QueueMember"),
                        ("Queue", queue.name),
                        ("Name", member.name),
                        ("Location", member.interface),
                        ("StateInterface", member.interface),
                        ("Membership", "static"),
                        ("Penalty", str(member.penalty)),
                        ("CallsTaken", str(member.calls_taken)),
                        ("LastCall", str(member.last_call)),
                        ("LastPause", "0"),
                        ("LoginTime", str(member.login_time)),
                        ("InCall", str(member.in_call)),
                        ("Status", str(member.status)),
                        ("Paused", str(member.paused)),
                        ("PausedReason", ""),
                        ("Wrapuptime", "0"),
                        ("ActionID", ""),
                    ]
                )
            for position, uid in enumerate(queue.callers, 1):
                caller = next((c for c in self.board.channels.values() if c.uniqueid == uid), None)
                if caller is not None:
                    items.append(
                        [
                            ("Event", "QueueEntry"),
                            ("Queue", queue.name),
                            ("Position", str(position)),
                            ("Channel", caller.name),
                            ("Uniqueid", uid),
                            ("CallerIDNum", caller.cid_num),
                            ("CallerIDName", caller.cid_name),
                            ("ConnectedLineNum", caller.conn_num),
                            ("ConnectedLineName", caller.conn_name),
                            ("Wait", str(int(self._age(caller, self.clock.now())))),
                            ("Priority", "0"),
                            ("ActionID", ""),
                        ]
                    )
        return _listing("Queue status will follow", items, "QueueStatusComplete")

    def _action_queuesummary(self, headers: Message, action_id: str | None) -> ActionReply:
        wanted = headers.get("Queue")
        items: list[Headers] = []
        for queue in self.board.queues.values():
            if wanted and queue.name != wanted:
                continue
            available = sum(1 for m in queue.members if m.status == 1 and not m.paused)
            items.append(
                [
                    ("Event", "QueueSummary"),
                    ("Queue", queue.name),
                    ("LoggedIn", str(len(queue.members))),
                    ("Available", str(available)),
                    ("Callers", str(len(queue.callers))),
                    ("HoldTime", str(queue.holdtime)),
                    ("TalkTime", str(queue.talktime)),
                    ("LongestHoldTime", "0"),
                    ("ActionID", ""),
                ]
            )
        return _listing("Queue summary will follow", items, "QueueSummaryComplete")

    def _action_devicestatelist(self, headers: Message, action_id: str | None) -> ActionReply:
        items = [
            [("Event", "DeviceStateChange"), ("Device", device), ("State", state)]
            for device, state in self.board.devices.items()
        ]
        return _listing("Device State Changes will follow", items, "DeviceStateListComplete")

    def _action_pjsipshowendpoints(self, headers: Message, action_id: str | None) -> ActionReply:
        items = []
        pool = self.agent_pool.names if self.agent_pool is not None else {}
        for endpoint in [*ENDPOINTS, *pool] if self.has_sip else ():
            active = sum(1 for name in self.board.channels if name.startswith(f"PJSIP/{endpoint}-"))
            items.append(
                [
                    ("Event", "EndpointList"),
                    ("ObjectType", "endpoint"),
                    ("ObjectName", endpoint),
                    ("Transport", "transport-udp"),
                    ("Aor", endpoint),
                    ("Auths", ""),
                    ("OutboundAuths", ""),
                    ("Contacts", f"{endpoint}/sip:{endpoint}@127.0.0.1,"),
                    ("DeviceState", self.board.devices.get(f"PJSIP/{endpoint}", "Not in use")),
                    ("ActiveChannels", str(active)),
                ]
            )
        return _listing(
            "A listing of Endpoints follows, presence/state information not supported",
            items,
            "EndpointListComplete",
        )

    def _action_messagesend(self, headers: Message, action_id: str | None) -> ActionReply:
        destination = headers.get("To") or headers.get("Destination") or ""
        if not destination:
            return _error("No destination specified")
        tech = destination.split(":", 1)[0].lower()
        if tech != "pjsip":
            return _error("Message technology not found.")
        return _ok("Message successfully sent")

    def _action_mixmonitor(self, headers: Message, action_id: str | None) -> ActionReply:
        matched = self._channels_matching(headers.get("Channel", ""))
        if not matched:
            return _error("No such channel")
        channel = matched[0]
        file = headers.get("File") or f"/var/spool/asterisk/monitor/{channel.uniqueid}.wav"
        channel.variables["MIXMONITOR_FILENAME"] = file
        if isinstance(channel.call, Call):
            channel.call.event("MixMonitorStart", (channel,), None, {})
        return _ok("Success")

    def _action_stopmixmonitor(self, headers: Message, action_id: str | None) -> ActionReply:
        matched = self._channels_matching(headers.get("Channel", ""))
        if not matched:
            return _error("No such channel")
        channel = matched[0]
        if isinstance(channel.call, Call):
            channel.call.event("MixMonitorStop", (channel,), None, {})
        return _ok("Success")

    def _peer(self, channel: Channel) -> Channel | None:
        bridge = self.board.bridges.get(channel.bridge)
        if bridge is None:
            return None
        return next((self.board.channels[n] for n in bridge.channels if n != channel.name), None)

    def _transfer_parties(self, headers: Message) -> tuple[Channel, Channel, Call, str, str] | ActionReply:
        """(transferer, transferee, call, context, exten) of a BlindTransfer/Atxfer, or the error reply.

        The simulated dialplan runs transfers to the phones of ``agents`` (``_1XX``: Dial(PJSIP/1XX,20,t));
        other destinations are refused with Asterisk's "Transfer failed"."""
        spec, exten = headers.get("Channel", ""), headers.get("Exten", "")
        if not spec:
            return _error("No channel specified")
        if not exten:
            return _error("No extension specified")
        matched = self._channels_matching(spec)
        if not matched:
            return _error("Channel specified does not exist")
        channel = matched[0]
        context = headers.get("Context") or channel.context
        if not self.extension_exists(context, exten):
            return _error("Extension does not exist.")
        peer = self._peer(channel)
        call = channel.call
        if peer is None or not isinstance(call, Call):
            return _error("Transfer invalid")  # ast_bridge_transfer_*(): the channel is not bridged
        if context != "agents" or exten not in ENDPOINTS or channel.name.startswith(f"PJSIP/{exten}-"):
            return _error("Transfer failed")
        return channel, peer, call, context, exten

    def _action_blindtransfer(self, headers: Message, action_id: str | None) -> ActionReply:
        """BlindTransfer: the transferer hangs up, its bridge peer runs ``Exten`` in ``Context``
        (the transferer's context by default) and the call goes on with the dialled phone."""
        found = self._transfer_parties(headers)
        if isinstance(found, ActionReply):
            return found
        transferer, transferee, call, context, exten = found
        bridge = self.board.bridges[transferer.bridge]
        call.params.update(transfer_target_params(context, exten, self.board))
        call.take_over(blind_transfer_flow(transferer, transferee, bridge))
        return _ok("Transfer succeeded")

    def _action_atxfer(self, headers: Message, action_id: str | None) -> ActionReply:
        """Atxfer: the transferer holds its peer, consults ``Exten`` on a second call and completes
        the transfer once the target answers (AttendedTransfer, the bridges merge, the transferer's
        channels hang up); a target that does not answer gives the held party back to the transferer."""
        found = self._transfer_parties(headers)
        if isinstance(found, ActionReply):
            return found
        transferer, transferee, call, context, exten = found
        bridge = self.board.bridges[transferer.bridge]
        call.params.update(transfer_target_params(context, exten, self.board), xfer_external="No")
        call.take_over(attended_transfer_flow(transferer, transferee, bridge))
        return _ok("Atxfer successfully queued")


def _parse_callerid(text: str) -> tuple[str, str]:
    match = _CID.match(text)
    if not text or match is None:
        return UNKNOWN, UNKNOWN
    name, number = (match.group(1) or "").strip(), (match.group(2) or "").strip()
    if not match.group(2):
        return UNKNOWN, name or UNKNOWN
    return name or UNKNOWN, number or UNKNOWN
