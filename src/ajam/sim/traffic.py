"""Background call traffic: a seeded random mix of the SIP scenarios (transfers included, at a small
share) with distinct callers."""

from __future__ import annotations

import asyncio
import random
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ajam.sim.pbx import Pbx

# scenario -> weight; inbound DIDs follow the dialplan (extensions-sip.conf)
MIX: dict[str, int] = {
    "sip_inbound_answered_recorded": 6,
    "sip_inbound_busy": 2,
    "sip_inbound_noanswer": 2,
    "sip_inbound_caller_cancel": 2,
    "sip_ringgroup": 3,
    "sip_queue_answered": 4,
    "sip_queue_abandoned": 2,
    "sip_internal": 2,
    "sip_blind_transfer": 1,
    "attended_transfer": 1,
}
FIRST_NAMES = ("Мария", "Иван", "Ольга", "Пётр", "Анна", "Sergey", "Elena", "John", "Наталья", "Дмитрий")
LAST_NAMES = ("Иванова", "Петров", "Смирнова", "Кузнецов", "Попова", "Volkov", "Orlova", "Smith", "Соколова")


class Traffic:
    """Starts calls at ``calls_per_minute`` (Poisson arrivals) until stopped; calls may overlap."""

    def __init__(self, pbx: Pbx) -> None:
        self.pbx = pbx
        self.rng = random.Random(pbx.rng.random())
        self._task: asyncio.Task[None] | None = None
        self.started = 0

    def caller(self) -> dict[str, str]:
        number = "79" + "".join(self.rng.choice("0123456789") for _ in range(9))
        name = f"{self.rng.choice(FIRST_NAMES)} {self.rng.choice(LAST_NAMES)}"
        return {"caller_num": number, "caller_name": name}

    def start(self, calls_per_minute: float) -> None:
        if self._task is not None:
            self._task.cancel()
        self._task = asyncio.get_running_loop().create_task(self._loop(calls_per_minute))

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def _loop(self, calls_per_minute: float) -> None:
        from ajam.sim.scenarios import FLOWS, SCENARIO_PARAMS

        names = list(MIX)
        weights = [MIX[name] for name in names]
        rate = calls_per_minute / 60.0 * self.pbx.clock.speed  # per real second (rate is in scenario time)
        while True:
            await asyncio.sleep(self.rng.expovariate(rate) if rate > 0 else 3600)
            name = self.rng.choices(names, weights)[0]
            params = {**SCENARIO_PARAMS[name], **self.caller()}
            if name == "sip_internal":
                params = {}
            self.started += 1
            self.pbx.spawn(FLOWS[name], self.pbx.new_call(params))
