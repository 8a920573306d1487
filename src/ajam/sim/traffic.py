"""Background call traffic: a seeded random mix of the SIP scenarios (transfers included, at a small
share) with distinct callers.

Arrivals follow a Poisson process on an absolute timeline: each call's start time is drawn from the
previous one's, and every call already due is started when the loop wakes, so the rate holds even when
the event loop is busy or the timer is coarse (at 200 calls/s a loop that slept ``expovariate()`` after
each call fell 20 % short).

With an :class:`AgentPool` (``Pbx(agents=1000)``) the calls spread over many phones instead of the three
captured ones: the captured scripts are replayed with 101/102/103, their names and queue ``support``
replaced by pool agents and the pool's queues (see :func:`pooled_fragments`).
"""

from __future__ import annotations

import asyncio
import random
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ajam.sim.calls_dsl import Call, Line
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
# the pool's mix: the scenarios whose scripts are plain fragments (transfers are code that names 101/102)
POOL_MIX: dict[str, int] = {
    name: weight for name, weight in MIX.items() if name not in ("sip_blind_transfer", "attended_transfer")
}
FIRST_NAMES = ("Мария", "Иван", "Ольга", "Пётр", "Анна", "Sergey", "Elena", "John", "Наталья", "Дмитрий")
LAST_NAMES = ("Иванова", "Петров", "Смирнова", "Кузнецов", "Попова", "Volkov", "Orlova", "Smith", "Соколова")
AGENT_FIRST = (
    "Алексей",
    "Мария",
    "Ирина",
    "Дмитрий",
    "Olga",
    "Сергей",
    "Анна",
    "Павел",
    "Elena",
    "Юлия",
    "Nikolai",
)
AGENT_LAST = ("Орлов", "Кузнецова", "Белов", "Зайцева", "Smirnov", "Морозов", "Волкова", "Лебедев", "Novak")

# the captured phones and queue, as they appear in the SIP scripts
CAPTURED_AGENTS = {"101": "Иван Петров", "102": "Anna Smirnova", "103": "Олег Сидоров"}
CAPTURED_QUEUE = "support"
_PHONE = re.compile(r"(?<![0-9])(?<!count=)(10[123])(?![0-9])")  # not RTCP's rxcount=/txcount= figures
_QUEUE = re.compile(r"(?<![\w/])support(?![\w])")
_NAME = re.compile("|".join(re.escape(name) for name in CAPTURED_AGENTS.values()))
_NAME_SLOT = {name: f"${{p.agent{number[-1]}_name}}" for number, name in CAPTURED_AGENTS.items()}


@dataclass(frozen=True)
class AgentPool:
    """Many SIP phones (``1001``, ``1002``...) with generated names, and queues of two of them each.

    Inbound calls go to one agent (DID ``7495`` + ``2`` + extension), ring groups to two random agents,
    queue calls to one of :attr:`queues` (``team-N``: agents ``2N`` and ``2N+1`` of the pool; at most
    ``max_queues`` of them, so the queue board stays small), internal calls between two agents."""

    agents: tuple[tuple[str, str], ...]  # (extension, display name)
    queues: tuple[tuple[str, tuple[str, str], tuple[str, str]], ...]  # (queue name, member, member)
    names: dict[str, str] = field(init=False, compare=False)  # extension -> display name
    team: dict[str, str] = field(init=False, compare=False)  # extension -> its queue

    def __post_init__(self) -> None:
        object.__setattr__(self, "names", dict(self.agents))
        team = {number: queue for queue, *members in self.queues for number, _ in members}
        object.__setattr__(self, "team", team)

    @classmethod
    def numbered(cls, count: int, *, first: int = 1001, max_queues: int = 50) -> AgentPool:
        return cls.of((str(number) for number in range(first, first + count)), max_queues=max_queues)

    @classmethod
    def of(cls, extensions: Iterable[str], *, max_queues: int = 50) -> AgentPool:
        numbers = list(dict.fromkeys(extensions))
        agents = tuple(
            (
                number,
                f"{AGENT_FIRST[index % len(AGENT_FIRST)]} {AGENT_LAST[index // len(AGENT_FIRST) % len(AGENT_LAST)]}",
            )
            for index, number in enumerate(numbers)
        )
        pairs = min(max_queues, len(numbers) // 2)
        queues = tuple(
            (f"team-{index + 1}", agents[2 * index], agents[2 * index + 1]) for index in range(pairs)
        )
        return cls(agents, queues)

    def params(self, scenario: str, rng: random.Random) -> dict[str, str]:
        """Script parameters naming the agents (and queue) one call of ``scenario`` reaches."""
        first, second, third = (self.agents[rng.randrange(len(self.agents))] for _ in range(3))
        if second == first and len(self.agents) > 1:
            second = self.agents[(self.agents.index(first) + 1) % len(self.agents)]
        if scenario.startswith("sip_queue") and self.queues:
            queue, second, third = self.queues[rng.randrange(len(self.queues))]
        else:  # a phone that is also a queue member reports its status to that queue (or nothing)
            queue = self.team.get(second[0], "")
        params = {"queue": queue}
        for slot, (number, name) in zip("123", (first, second, third), strict=True):
            params[f"agent{slot}"] = number
            params[f"agent{slot}_name"] = name
        if scenario.startswith("sip_queue"):
            params["did"] = f"74954{queue.rpartition('-')[2].zfill(6)}"
        elif scenario == "sip_ringgroup":
            params["did"] = f"74953{first[0].zfill(6)}"
        elif scenario != "sip_internal":
            params["did"] = f"74952{first[0].zfill(6)}"
        return params


def pooled_text(text: str) -> str:
    """A script value with the captured phones, their names and queue turned into pool parameters."""
    text = _PHONE.sub(lambda match: f"${{p.agent{match.group(1)[-1]}}}", text)
    text = _NAME.sub(lambda match: _NAME_SLOT[match.group(0)], text)
    return _QUEUE.sub("${p.queue}", text)


@cache
def pooled_fragments() -> dict[str, list[Line]]:
    """The captured fragments with every phone, name and queue reference turned into a parameter."""
    from dataclasses import replace

    from ajam.sim.calls_dsl import Template
    from ajam.sim.scenarios import fragments

    def convert(template: Template) -> Template:
        text = pooled_text(template.text)
        return template if text == template.text else Template(text)

    def condition(line: Line) -> Template | None:
        if line.when is not None:
            return convert(line.when)
        return Template("${p.queue}") if line.kind == "QueueMemberStatus" else None

    return {
        name: [
            replace(
                line,
                updates=tuple((ref, attr, convert(value)) for ref, attr, value in line.updates),
                fields=tuple((key, convert(value)) for key, value in line.fields),
                when=condition(line),
            )
            for line in lines
        ]
        for name, lines in fragments().items()
    }


async def play_pooled(name: str, call: Call) -> None:
    await call.play(pooled_fragments()[name])


class Traffic:
    """Starts calls at ``calls_per_minute`` (Poisson arrivals) until stopped; calls may overlap."""

    def __init__(self, pbx: Pbx) -> None:
        self.pbx = pbx
        self.rng = random.Random(pbx.rng.random())
        self._task: asyncio.Task[None] | None = None
        self.started = 0

    def caller(self) -> dict[str, str]:
        number = "79" + str(self.rng.randrange(10**9)).zfill(9)
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
        rate = calls_per_minute / 60.0 * self.pbx.clock.speed  # per real second (rate is in scenario time)
        if rate <= 0:
            await asyncio.Event().wait()
        loop = asyncio.get_running_loop()
        due = loop.time()
        while True:
            due += self.rng.expovariate(rate)
            await asyncio.sleep(max(0.0, due - loop.time()))  # yields even when behind: calls must run
            self._start_one()

    def _start_one(self) -> None:
        from ajam.sim.scenarios import FLOWS, SCENARIO_PARAMS

        pool = self.pbx.agent_pool
        mix = POOL_MIX if pool is not None else MIX
        name = self.rng.choices(list(mix), list(mix.values()))[0]
        params = {**SCENARIO_PARAMS[name], **self.caller()}
        if pool is not None:
            params.update(pool.params(name, self.rng))
            if name == "sip_internal":
                params = {key: value for key, value in params.items() if key.startswith("agent")}
            self.started += 1
            self.pbx.spawn(lambda call: play_pooled(name, call), self.pbx.new_call(params))
            return
        if name == "sip_internal":
            params = {}
        self.started += 1
        self.pbx.spawn(FLOWS[name], self.pbx.new_call(params))
