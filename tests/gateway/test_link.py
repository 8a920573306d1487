"""The PBX link's subscription to the call service: a burst beyond its queue becomes a ``gap`` for web
clients (they re-read the journal, where every ended call already is), never a silent loss."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from ajam.gateway import link
from ajam.gateway.hub import Envelope
from tests.gateway.gateway_app import running_gateway, wait_for

CALLS = 6


async def test_notifications_beyond_the_link_queue_become_a_gap(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(link, "NOTIFICATION_QUEUE", 1)
    async with running_gateway(tmp_path) as gateway:
        seen: list[Envelope] = []
        gateway.app.state.hub.add_listener(seen.append)
        # calls ending together are stored as one batch and announced in one go: far more than 1 queued
        await asyncio.gather(*(gateway.sim.pbx.run_scenario("sip_inbound_busy") for _ in range(CALLS)))
        gaps = await wait_for(
            lambda: [e for e in seen if e.type == "pbx" and e.data.get("reason") == "notifications dropped"]
        )
        assert all(gap.data["state"] == "gap" for gap in gaps)
        await wait_for(lambda: gateway.app.state.link.service.stats.notifications >= 2 * CALLS)
        ended = [e for e in seen if e.type == "ended"]
        assert len(ended) < CALLS  # some were dropped before the hub: a gap said so
        supervisor = await gateway.login("super")
        journal = (await supervisor.get("/api/journal")).json()
        assert journal["total"] == CALLS  # what the clients re-read after the gap
        assert any("notifications dropped" in line for line in gateway.logs.lines)
