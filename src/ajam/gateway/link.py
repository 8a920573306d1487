"""The gateway's one manager connection and what it feeds: call service, queue board, event hub.

:class:`PbxLink` connects in the background (retrying with backoff, so the web server is up and says
``pbx: connecting`` meanwhile), then runs a :class:`~ajam.calls.service.CallService` with the journal
and a :class:`~ajam.calls.queues.QueueBoard`, and publishes into the hub:

* ``ringing`` — to the extension that rings only (the screen pop belongs to that phone);
* ``answered`` / ``ended`` — to every extension that took part (a ring group's other phones close their
  pop-ups); ``ended`` only once the call is stored in the journal;
* ``queue`` — the board, at most once per ``queue_publish_delay`` while queue events arrive;
* ``pbx`` — ``connected`` / ``disconnected`` / ``reconnected`` / ``gap``.

With a Redis bus only the elected leader runs the link: :meth:`PbxLink.start` when it leads,
:meth:`PbxLink.stop` when it loses the lock (the calls already finished are still stored in the journal,
but nothing more is published: the process now follows the new leader's cursors).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from urllib.parse import quote

from ajam.calls.journal import AsyncJournal
from ajam.calls.model import Call
from ajam.calls.notify import ANSWERED, RINGING, CallNotification
from ajam.calls.queues import QueueBoard
from ajam.calls.service import CallService
from ajam.client import NOTICE_DISCONNECTED, NOTICE_GAP, NOTICE_RECONNECTED, ManagerClient, create_client
from ajam.client.url import parse_url
from ajam.errors import AjamError, AuthenticationFailed
from ajam.gateway.hub import EventHub
from ajam.gateway.settings import GatewaySettings
from ajam.protocol.message import Event

log = logging.getLogger("ajam.gateway.link")

CONNECTING = "connecting"
CONNECTED = "connected"
DISCONNECTED = "disconnected"
_QUEUE_EVENTS = ("Queue", "Agent")
# The link's notification queue. Its callback only publishes into the hub (it never waits), so the queue
# only has to absorb one synchronous burst: the resync after a PBX outage ends every call that vanished
# meanwhile, and the call service stores and announces them as one batch (1,400 calls after a 10 s
# outage at 200 calls/s). With the service's default of 1,000 the rest were dropped before the hub: web
# clients never heard those calls ended, and got no gap notice either (tests/reliability/test_gateway_load).
# Should even this overflow, the clients get a ``pbx`` ``gap`` envelope and re-read (the calls are stored).
NOTIFICATION_QUEUE = 100_000


def call_extensions(call: Call) -> set[str]:
    """Every number that took part in ``call``: placed it, was called, rang, answered."""
    taking_part = (
        call.caller.number,
        call.callee.number,
        call.answered_by,
        *call.rang,
        *call.extension_outcomes,
    )
    return {number for number in taking_part if number}


def notification_extensions(notification: CallNotification) -> list[str]:
    if notification.kind == RINGING and notification.extension:
        return [notification.extension]
    found = call_extensions(notification.call)
    if notification.extension:
        found.add(notification.extension)
    return sorted(found)


class PbxLink:
    def __init__(
        self,
        settings: GatewaySettings,
        hub: EventHub,
        journal: AsyncJournal | None,
        *,
        clock: Callable[[], float] = time.time,
        retry_initial: float = 0.5,
        retry_max: float = 30.0,
    ) -> None:
        self.settings = settings
        self.hub = hub
        self.journal = journal
        self.clock = clock
        self.board = QueueBoard()
        self.state = CONNECTING
        self.client: ManagerClient | None = None
        self.service: CallService | None = None
        self.last_error: str | None = None
        self._retry_initial = retry_initial
        self._retry_max = retry_max
        self._task: asyncio.Task[None] | None = None
        self._queue_push: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._ready = asyncio.Event()
        self._unsubscribe: Callable[[], None] | None = None

    @property
    def pbx_name(self) -> str:
        """The PBX for humans and logs (never the secret)."""
        return parse_url(self.settings.pbx_url).redacted()

    def start(self) -> None:
        """Connect in the background (while started, later calls do nothing)."""
        if self._task is not None:
            return
        self.state = CONNECTING
        self._task = asyncio.create_task(self._connect_and_follow(), name="ajam-gateway-pbx")

    async def wait_ready(self, timeout: float) -> bool:
        try:
            await asyncio.wait_for(self._ready.wait(), timeout)
        except TimeoutError:
            return False
        return True

    async def close(self) -> None:
        await self.stop()

    async def stop(self) -> None:
        """Disconnect from the PBX; :meth:`start` connects again. The call service stores the calls that
        already ended in the journal, but the hub hears nothing more from this link (with a bus, a
        process that stopped leading must not publish: its cursors now come from the new leader)."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        if self._queue_push is not None:
            self._queue_push.cancel()
            self._queue_push = None
        service, self.service = self.service, None
        if service is not None:
            await service.close()
        for pending in list(self._tasks):
            pending.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        client, self.client = self.client, None
        if client is not None:
            await client.close()
        self.board = QueueBoard()
        self.state = DISCONNECTED
        self._ready.clear()

    # ------------------------------------------------------------------ connecting
    async def _connect_and_follow(self) -> None:
        delay = self._retry_initial
        while True:
            client = create_client(self.settings.pbx_url)
            try:
                await client.connect()
                break
            except AuthenticationFailed:
                self.last_error = "the PBX refused the manager login"
                log.error("%s refused the manager login; check the user and secret", self.pbx_name)
            except (AjamError, OSError) as error:
                self.last_error = "cannot reach the PBX"
                log.warning("cannot connect to %s (%s); retrying in %.1f s", self.pbx_name, error, delay)
            await client.close()
            await asyncio.sleep(delay)
            delay = min(delay * 2, self._retry_max)
        self.client = client
        client.on("ajam*", self._on_notice)
        service = CallService(client, journal=self.journal, queue_board=self.board, clock=self.clock)
        self._unsubscribe = service.subscribe(
            self._on_notification, maxsize=NOTIFICATION_QUEUE, on_overflow=self._on_notifications_dropped
        )
        service.watch(self._on_event)
        try:
            await service.start()
        except BaseException:
            await service.close()
            raise
        self.service = service
        self.state = CONNECTED
        self.last_error = None
        log.info("connected to %s", self.pbx_name)
        self.hub.publish("pbx", {"state": CONNECTED})
        self._publish_board()
        self._ready.set()

    # ------------------------------------------------------------------ into the hub
    def _on_notification(self, notification: CallNotification) -> None:
        data = notification.to_json()
        if notification.kind == RINGING and self.settings.contact_url and notification.caller_number:
            # a plain substitution: any other brace in an operator-supplied template stays as written
            data["contact_url"] = self.settings.contact_url.replace(
                "{number}", quote(notification.caller_number, safe="+")
            )
        self.hub.publish(notification.kind, data, extensions=notification_extensions(notification))
        if notification.kind != ANSWERED and self.board.queues:
            self._schedule_board()

    def _on_notice(self, event: Event) -> None:
        if self._task is None:
            return  # stopped: closing the client says "disconnected", but the hub is not ours any more
        if event.name == NOTICE_DISCONNECTED:
            self.state = DISCONNECTED
            self.hub.publish("pbx", {"state": DISCONNECTED})
        elif event.name == NOTICE_RECONNECTED:
            self.state = CONNECTED
            self.hub.publish("pbx", {"state": "reconnected"})
            self._after_resync()
        elif event.name == NOTICE_GAP:
            self.hub.publish("pbx", {"state": "gap"})
            self._after_resync()

    def _on_notifications_dropped(self) -> None:
        """Beyond even NOTIFICATION_QUEUE: web clients re-read live calls and the journal (a gap)."""
        log.warning("call notifications dropped before the hub: clients are told to re-read (gap)")
        self.hub.publish("pbx", {"state": "gap", "reason": "notifications dropped"})

    def _on_event(self, event: Event, _updates: object) -> None:
        if event.name.startswith(_QUEUE_EVENTS) and event.get("Queue"):
            self._schedule_board()

    def _after_resync(self) -> None:
        """Once the service has re-read channels and queues, push the fresh board."""
        service = self.service
        if service is None:
            return

        async def push_when_synced() -> None:
            await asyncio.sleep(0)  # let the service start its resync first
            try:
                await service.wait_synced()
            except TimeoutError:
                return
            self._publish_board()

        task = asyncio.create_task(push_when_synced())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _schedule_board(self) -> None:
        if self._queue_push is None:
            loop = asyncio.get_running_loop()
            self._queue_push = loop.call_later(self.settings.queue_publish_delay, self._publish_board)

    def _publish_board(self) -> None:
        self._queue_push = None
        if self._task is None:
            return
        self.hub.publish("queue", self.board.to_json(self.clock()))
