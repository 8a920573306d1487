"""The PBX operations behind the REST API, wherever this process's PBX connection is.

Without a bus, and on the bus leader, :class:`PbxAccess` runs them on the local :class:`PbxLink`. On a
follower (``--bus``, another process holds the lock and the PBX connection) it forwards them to the
leader with :meth:`GatewayBus.request`; the leader answers them with :meth:`PbxAccess.handle`. Forwarded:

* live calls — the leader's tracker is the only complete picture (mirroring them from envelopes would
  miss calls that began before this process joined, and ``ringing`` goes to one extension only), so the
  follower asks with the caller's scope and the leader filters;
* the queue board (its live part; the journal figures come from this process's own journal, which is
  the same database) — for the same reason;
* dial, dial result, SMS, admin action.

Dial results: a follower keeps what it learns (the leader's answer to the forwarded dial, then the
leader's ``dial`` envelopes, see :meth:`Dialer.record`); a job it never heard of is asked from the leader.

Health on a follower reports the PBX state as seen through the bus: the last ``pbx`` envelope, or —
before one arrives — the leader's answer when this process starts following. When the leader dies the
state shown stays the last one announced until a new leader connects and announces its own.

Authentication and authorisation stay local to each process: the process that receives a request
checks the principal (sessions and tokens are in the shared database when every process uses the same
``--db``); the leader trusts what arrives through Redis, which belongs to the gateway's trusted
infrastructure like the database. The login rate limiter is per process (an attacker spread over N
processes gets N times the attempts; put the limit on the load balancer if that matters).
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ajam.calls.sms import SmsFailed, send_sms
from ajam.errors import AjamError, HeaderInjection
from ajam.gateway.auth import Principal
from ajam.gateway.dials import Dialer
from ajam.gateway.hub import Envelope, EventHub
from ajam.gateway.link import CONNECTED, CONNECTING, DISCONNECTED, PbxLink, call_extensions

if TYPE_CHECKING:
    from ajam.gateway.bus import GatewayBus

log = logging.getLogger("ajam.gateway.pbx")

LIVE_CALLS = "live_calls"
BOARD = "board"
DIAL = "dial"
DIAL_RESULT = "dial_result"
SMS = "sms"
ACTION = "action"
STATE = "state"

_PBX_STATES = {
    "connected": CONNECTED,
    "reconnected": CONNECTED,
    "gap": CONNECTED,
    "disconnected": DISCONNECTED,
}
_SECRET_NAME = re.compile(r"secret|password|passwd|md5", re.IGNORECASE)
_SECRET_ASSIGNMENT = re.compile(r"\b((?:md5)?secret|password|passwd)(\s*[=:]\s*)\S+", re.IGNORECASE)


class PbxRefused(Exception):
    """The operation cannot be done: ``status`` is the HTTP status for the caller, ``detail`` says why
    (never a secret)."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


def redact_reply(value: Any, secrets_to_hide: Sequence[str]) -> Any:
    """A reply as JSON with anything secret-looking hidden (headers named *secret*/*password*, lines
    such as ``secret=...`` from ``GetConfig``, and the gateway's own manager secret wherever it shows)."""
    if isinstance(value, dict):
        return {
            key: "***" if _SECRET_NAME.search(key) else redact_reply(item, secrets_to_hide)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [redact_reply(item, secrets_to_hide) for item in value]
    if isinstance(value, str):
        text = _SECRET_ASSIGNMENT.sub(r"\1\2***", value)
        for secret in secrets_to_hide:
            text = text.replace(secret, "***")
        return text
    return value


class PbxAccess:
    def __init__(
        self, link: PbxLink, dialer: Dialer, hub: EventHub, *, forward_timeout: float = 15.0
    ) -> None:
        self.link = link
        self.dialer = dialer
        self.forward_timeout = forward_timeout
        self.bus: GatewayBus | None = None
        self.remote_state = CONNECTING  # the leader's PBX state, as seen through the bus
        self._pbx_envelopes = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self._remove_listener = hub.add_listener(self._on_envelope)

    @property
    def local(self) -> bool:
        """Whether this process holds the PBX connection (no bus, or the bus leader)."""
        return self.bus is None or self.bus.is_leader

    @property
    def state(self) -> str:
        """``connected`` / ``disconnected`` / ``connecting``: this process's link, or the leader's."""
        return self.link.state if self.local else self.remote_state

    # ------------------------------------------------------------------ operations (REST side)
    async def live_calls(self, principal: Principal) -> list[dict[str, Any]]:
        scope = None if principal.is_staff else sorted(principal.extensions)
        found = await self._call(LIVE_CALLS, {"extensions": scope})
        return list(found["items"])

    async def board(self) -> tuple[dict[str, Any], float]:
        """The live queue board and the leader's clock reading it was taken at."""
        found = await self._call(BOARD, {})
        return dict(found["board"]), float(found["now"])

    async def dial(self, requested_by: str, from_extension: str, to: str) -> dict[str, Any]:
        payload = {"requested_by": requested_by, "from_extension": from_extension, "to": to}
        found = await self._call(DIAL, payload)
        if not self.local:
            self.dialer.record(found, requested_by)
        return found

    async def dial_result(self, job_id: str) -> dict[str, Any] | None:
        job = self.dialer.get(job_id)
        if job is not None:
            return job.to_json()
        if self.local:
            return None
        found = (await self._call(DIAL_RESULT, {"id": job_id})).get("job")
        return dict(found) if found else None

    async def sms(self, to: str, body: str) -> str:
        found = await self._call(SMS, {"to": to, "body": body})
        return str(found["message"])

    async def action(self, action: str, pairs: Sequence[tuple[str, str]]) -> dict[str, Any]:
        return await self._call(ACTION, {"action": action, "headers": [list(pair) for pair in pairs]})

    async def _call(self, kind: str, payload: dict[str, Any]) -> dict[str, Any]:
        if self.local:
            return await self._run(kind, payload)
        return await self._forward(kind, payload)

    async def _forward(self, kind: str, payload: dict[str, Any]) -> dict[str, Any]:
        from redis.exceptions import RedisError

        from ajam.gateway.bus import BusError

        assert self.bus is not None
        try:
            found = await self.bus.request(kind, payload, timeout=self.forward_timeout)
        except (BusError, RedisError, OSError) as error:
            log.warning("forwarding %s to the gateway leader failed: %s", kind, error)
            raise PbxRefused(503, "the gateway holding the PBX connection did not answer") from None
        refused = found.get("refused")
        if isinstance(refused, dict):
            raise PbxRefused(int(refused["status"]), str(refused["detail"]))
        return found

    # ------------------------------------------------------------------ on the leader
    async def handle(self, kind: str, payload: dict[str, Any]) -> dict[str, Any]:
        """The bus handler: run a forwarded operation here; a refusal travels back as ``refused``."""
        try:
            return await self._run(kind, payload)
        except PbxRefused as refused:
            return {"refused": {"status": refused.status, "detail": refused.detail}}

    async def _run(self, kind: str, payload: dict[str, Any]) -> dict[str, Any]:
        if kind == STATE:
            return {"state": self.link.state}
        if kind == DIAL_RESULT:
            job = self.dialer.get(str(payload["id"]))
            return {"job": job.to_json() if job is not None else None}
        link = self.link
        client, service = link.client, link.service
        if client is None or service is None:
            raise PbxRefused(503, "the PBX is not connected yet")
        if kind == LIVE_CALLS:
            scope = payload.get("extensions")
            wanted = None if scope is None else {str(number) for number in scope}
            calls = [
                call.to_json()
                for call in service.live_calls()
                if wanted is None or not wanted.isdisjoint(call_extensions(call))
            ]
            return {"items": calls}
        if kind == BOARD:
            now = link.clock()
            return {"board": link.board.to_json(now), "now": now}
        if kind == DIAL:
            job = self.dialer.start(
                str(payload["requested_by"]), str(payload["from_extension"]), str(payload["to"])
            )
            return job.to_json()
        if kind == SMS:
            return await self._sms(str(payload["to"]), str(payload["body"]))
        if kind == ACTION:
            pairs = [(str(name), str(value)) for name, value in payload["headers"]]
            return await self._action(str(payload["action"]), pairs)
        raise PbxRefused(400, f"unknown operation {kind[:40]!r}")

    async def _sms(self, to: str, body: str) -> dict[str, Any]:
        assert self.link.client is not None
        try:
            reply = await send_sms(self.link.client, to=to, body=body)
        except (HeaderInjection, ValueError) as error:
            raise PbxRefused(400, str(error)) from None
        except SmsFailed as error:
            raise PbxRefused(502, str(error)) from None
        return {"message": reply.response.message}

    async def _action(self, action: str, pairs: list[tuple[str, str]]) -> dict[str, Any]:
        client = self.link.client
        assert client is not None
        try:
            reply = await client.send(action, pairs, check=False)
        except HeaderInjection as error:
            raise PbxRefused(400, str(error)) from None
        except AjamError as error:
            raise PbxRefused(502, str(error)) from None
        secret = client.url.secret
        return dict(redact_reply(reply.to_dict(), [secret] if secret else []))

    # ------------------------------------------------------------------ bus roles
    async def on_leader(self) -> None:
        """This process got the lock: connect to the PBX."""
        self.link.start()

    async def on_follower(self) -> None:
        """This process lost the lock: let go of the PBX (the new leader connects)."""
        await self.dialer.close()
        await self.link.stop()
        self.remote_state = CONNECTING
        self.learn_leader_state()

    def learn_leader_state(self) -> None:
        """Ask the leader for its PBX state in the background (kept unless a ``pbx`` envelope came
        meanwhile, which is newer)."""
        seen = self._pbx_envelopes

        async def ask() -> None:
            try:
                found = await self._forward(STATE, {})
            except PbxRefused:
                return
            if self._pbx_envelopes == seen and not self.local:
                self.remote_state = str(found.get("state", CONNECTING))

        task = asyncio.get_running_loop().create_task(ask(), name="ajam-gateway-leader-state")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _on_envelope(self, envelope: Envelope) -> None:
        if self.local:
            return
        if envelope.type == "pbx":
            self._pbx_envelopes += 1
            self.remote_state = _PBX_STATES.get(str(envelope.data.get("state")), self.remote_state)
        elif envelope.type == "dial" and envelope.data.get("id"):
            try:
                self.dialer.record(envelope.data)
            except (KeyError, TypeError, ValueError):
                log.warning("ignored a malformed dial envelope %s", envelope.cursor)

    async def close(self) -> None:
        self._remove_listener()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
