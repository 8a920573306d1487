"""Background traffic: Poisson arrivals that hold their rate, and the agent pool (``Pbx(agents=N)``)."""

from __future__ import annotations

import asyncio
import re
import time

from ajam.protocol.message import Message
from ajam.sim.channels import Headers
from ajam.sim.pbx import Pbx
from ajam.sim.traffic import AgentPool, pooled_text

CAPTURED_PHONE = re.compile(r"PJSIP/10[123]\b")


def test_pool_numbers_names_and_queues() -> None:
    pool = AgentPool.numbered(7, max_queues=2)
    assert [number for number, _ in pool.agents] == [str(n) for n in range(1001, 1008)]
    assert len({name for _, name in pool.agents}) == 7
    assert any(re.search("[а-яА-Я]", name) for _, name in pool.agents)  # Cyrillic names too
    assert [queue for queue, *_ in pool.queues] == ["team-1", "team-2"]
    assert pool.team == {"1001": "team-1", "1002": "team-1", "1003": "team-2", "1004": "team-2"}


def test_pooled_text_replaces_phones_names_and_queue_but_not_figures() -> None:
    assert pooled_text("PJSIP/101-${seq}") == "PJSIP/${p.agent1}-${seq}"
    assert pooled_text("PJSIP/102&PJSIP/103") == "PJSIP/${p.agent2}&PJSIP/${p.agent3}"
    assert pooled_text("Anna Smirnova") == "${p.agent2_name}"
    assert pooled_text("support,t,,,60") == "${p.queue},t,,,60"
    assert pooled_text("Queue:support_avail") == "Queue:support_avail"  # the captured queue's own device
    assert pooled_text("rxcount=101;txcount=102") == "rxcount=101;txcount=102"
    assert pooled_text("74951230001") == "74951230001"


async def test_default_pbx_has_no_pool() -> None:
    pbx = Pbx(seed=1)
    assert pbx.agent_pool is None
    assert set(pbx.board.queues) == {"testq", "support"}
    await pbx.aclose()


async def test_pool_traffic_spreads_calls_over_the_pool() -> None:
    pbx = Pbx(seed=3, speed=200, agents=40)
    events: list[Headers] = []
    pbx.subscribe(events.append)
    pbx.start_traffic(calls_per_minute=60)
    deadline = time.monotonic() + 10
    while pbx.traffic.started < 60 and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    await pbx.stop_traffic()
    await asyncio.sleep(0.5)  # let calls finish some scripted steps
    await pbx.aclose()
    assert pbx.traffic.started >= 60
    texts = ["\n".join(f"{key}: {value}" for key, value in headers) for headers in events]
    phones = {match for text in texts for match in re.findall(r"PJSIP/(1\d{3})-", text)}
    assert len(phones) >= 20 and phones <= {str(n) for n in range(1001, 1041)}
    assert not any(CAPTURED_PHONE.search(text) for text in texts)
    assert not any("${" in text for text in texts)
    statuses = [dict(h) for h in events if dict(h).get("Event") == "QueueMemberStatus"]
    assert statuses and all(status["Queue"].startswith("team-") for status in statuses)
    for status in statuses:  # the member the status is about exists in that pool queue
        assert status["MemberName"] and pbx.agent_pool is not None
        assert pbx.agent_pool.team[status["Interface"].removeprefix("PJSIP/")] == status["Queue"]


async def test_pool_endpoints_and_queues_are_configured() -> None:
    pbx = Pbx(seed=1, agents=5)
    assert {"team-1", "team-2"} <= set(pbx.board.queues)
    reply = await pbx.handle("pjsipshowendpoints", Message([("Action", "PJSIPShowEndpoints")]), None)
    names = [dict(h).get("ObjectName") for h in reply.list_events[:-1]]
    assert {"101", "1001", "1005"} <= set(names)
    assert pbx.extension_exists("agents", "1003") and not pbx.extension_exists("agents", "1006")
    await pbx.aclose()


async def test_arrivals_hold_the_rate() -> None:
    pbx = Pbx(seed=5, speed=1)
    pbx.start_traffic(calls_per_minute=60 * 200)  # 200 calls/s
    began = time.monotonic()
    await asyncio.sleep(1.0)
    elapsed = time.monotonic() - began
    started = pbx.traffic.started
    await pbx.aclose()
    assert 0.8 * 200 * elapsed <= started <= 1.2 * 200 * elapsed
