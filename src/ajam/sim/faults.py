"""Fault injection for tests: the failures a manager client must survive, on demand.

Every fault acts on a running :class:`~ajam.sim.server.SimulatedPbx` (``sim.faults``). From a
synchronous test that uses :func:`~ajam.sim.server.running_simulator`, call them through
``sim.call_soon(sim.faults.drop_connections)`` (thread-safe).
"""

from __future__ import annotations

import asyncio
import itertools
from typing import TYPE_CHECKING

from ajam.sim.dispatch import event_tv

if TYPE_CHECKING:
    from ajam.sim.server import SimulatedPbx

MALFORMED_FRAME = b"This is not: a manager\r\nmessage without\x00 rules\r\nEvent\r\n\r\n"


class Faults:
    def __init__(self, sim: SimulatedPbx) -> None:
        self._sim = sim
        self._burst_counter = itertools.count(1)

    def drop_connections(self) -> int:
        """Abort every TCP and HTTP connection at once (no goodbye, no FIN flush); returns how many AMI ones."""
        count = len(self._sim.ami.connections)
        self._sim.ami.drop_all()
        self._sim.http.drop_all()
        return count

    async def restart(self, *, downtime: float = 0.0, keep_calls: bool = False) -> None:
        """Stop both servers (connections dropped, HTTP sessions lost) and listen again on the same ports.

        ``keep_calls``: whether live calls survive (a manager module reload) or are lost (a PBX restart).
        """
        await self._sim.restart(downtime=downtime, keep_calls=keep_calls)

    def slow_responses(self, delay: float) -> None:
        """Delay every action's answer by ``delay`` seconds (0 turns it off)."""
        self._sim.dispatcher.action_delay = max(0.0, delay)

    def expire_http_sessions(self) -> int:
        """Forget every HTTP session now; returns how many there were."""
        count = len(self._sim.http.http_sessions())
        self._sim.http.expire_all()
        return count

    def send_malformed_frame(self, data: bytes = MALFORMED_FRAME) -> int:
        """Write ``data`` unchanged to every logged-in AMI client; returns how many got it."""
        targets = [c for c in self._sim.ami.connections if c.session.authenticated]
        for connection in targets:
            connection.send_raw(data)
        return len(targets)

    def send_oversized_frame(self, size: int = 5 * 1024 * 1024) -> int:
        """Write one event of about ``size`` bytes (bigger than a client's default limit) to every client."""
        filler = b"x" * max(0, size)
        return self.send_malformed_frame(
            b"Event: Oversized\r\nPrivilege: system,all\r\nData: " + filler + b"\r\n\r\n"
        )

    async def event_burst(self, count: int, *, per_second: float = 0.0, name: str = "Burst") -> None:
        """Publish ``count`` UserEvents (Privilege user,all), spread at ``per_second`` (0: all at once)."""
        interval = 1.0 / per_second if per_second > 0 else 0.0
        for index in range(count):
            self._sim.publish(
                [
                    ("Event", "UserEvent"),
                    ("Privilege", "user,all"),
                    ("UserEvent", name),
                    ("Sequence", str(next(self._burst_counter))),
                    ("EventTV", event_tv()),
                ]
            )
            if interval:
                await asyncio.sleep(interval)
            elif index % 500 == 499:
                await asyncio.sleep(0)

    async def pbx_traffic_burst(self, scenario: str, count: int, *, per_second: float = 1.0) -> None:
        """Start ``count`` calls of a PBX scenario at ``per_second`` (events come from the real call model)."""
        interval = 1.0 / per_second if per_second > 0 else 0.0
        tasks = []
        for _ in range(count):
            tasks.append(asyncio.create_task(self._sim.pbx.run_scenario(scenario)))
            if interval:
                await asyncio.sleep(interval)
        await asyncio.gather(*tasks)
