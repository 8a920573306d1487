"""Click-to-call jobs of the gateway: started by ``POST /api/dial``, followed in the background.

Each job gets an unguessable id; its result (``ClickToCallResult.to_json()`` plus ``id``, ``state``,
``from_extension``, ``to``) is published to the hub as a ``dial`` envelope for the agent's extension as
soon as it is known, and kept for ``GET /api/dial/{id}`` (the newest ``keep`` jobs).

With a Redis bus only the leader runs jobs; the other processes keep what they learn about them
(:meth:`Dialer.record`: the leader's answer to a forwarded dial, then its ``dial`` envelope), so
``GET /api/dial/{id}`` answers on the process that took the request.
"""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ajam.calls.click_to_call import ClickToCallStatus, click_to_call
from ajam.errors import AjamError
from ajam.gateway.hub import EventHub
from ajam.gateway.link import PbxLink

log = logging.getLogger("ajam.gateway.dials")

PENDING = "pending"
DONE = "done"
_NUMBER = re.compile(r"\+?[0-9*#]{1,32}")


def check_number(number: str) -> str:
    """A number to dial: digits (``*``, ``#``, a leading ``+``), at most 32; spaces, dashes, dots and
    brackets are dropped (they come with copy-pasted numbers)."""
    cleaned = re.sub(r"[\s().-]", "", number)
    if not _NUMBER.fullmatch(cleaned):
        raise ValueError("a number to dial has digits only (and *, #, a leading +), at most 32")
    return cleaned


@dataclass
class DialJob:
    id: str
    requested_by: str
    from_extension: str
    to: str
    state: str = PENDING
    result: dict[str, object] = field(default_factory=dict)

    def to_json(self) -> dict[str, object]:
        return {
            **self.result,
            "id": self.id,
            "state": self.state,
            "from_extension": self.from_extension,
            "to": self.to,
        }


class Dialer:
    def __init__(self, link: PbxLink, hub: EventHub, *, keep: int = 1000) -> None:
        self.link = link
        self.hub = hub
        self.keep = keep
        self._jobs: OrderedDict[str, DialJob] = OrderedDict()
        self._tasks: set[asyncio.Task[None]] = set()

    def start(self, requested_by: str, from_extension: str, to: str) -> DialJob:
        """Begin a click-to-call (the link must be connected: ``link.service`` set)."""
        job = DialJob(secrets.token_urlsafe(12), requested_by, from_extension, to)
        self._jobs[job.id] = job
        while len(self._jobs) > self.keep:
            self._jobs.popitem(last=False)
        task = asyncio.create_task(self._follow(job), name=f"ajam-dial-{job.id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return job

    def get(self, job_id: str) -> DialJob | None:
        return self._jobs.get(job_id)

    def record(self, found: Mapping[str, Any], requested_by: str = "") -> DialJob:
        """Keep a job run by another gateway process, from its JSON (:meth:`DialJob.to_json`); a job
        already done here is not turned back into a pending one."""
        known = self._jobs.get(str(found["id"]))
        if known is not None and known.state == DONE:
            return known
        result = {
            key: value for key, value in found.items() if key not in ("id", "state", "from_extension", "to")
        }
        job = DialJob(
            str(found["id"]),
            known.requested_by if known is not None else requested_by,
            str(found["from_extension"]),
            str(found["to"]),
            state=str(found.get("state", PENDING)),
            result=result,
        )
        self._jobs[job.id] = job
        self._jobs.move_to_end(job.id)
        while len(self._jobs) > self.keep:
            self._jobs.popitem(last=False)
        return job

    async def _follow(self, job: DialJob) -> None:
        client, service = self.link.client, self.link.service
        dial = self.link.settings.dial
        try:
            if client is None or service is None:
                raise AjamError("the PBX is not connected")
            result = await click_to_call(
                client,
                service,
                extension=job.from_extension,
                number=job.to,
                channel_template=dial.channel_template,
                context=dial.context,
                dial_prefix=dial.prefix,
                timeout=dial.ring_timeout,
            )
            job.result = result.to_json()
        except AjamError as error:  # the PBX refused the Originate, or the connection went away
            log.warning("click-to-call %s from %s failed: %s", job.id, job.from_extension, error)
            job.result = {
                "status": str(ClickToCallStatus.FAILED),
                "action_id": None,
                "call_id": None,
                "reason": str(error),
                "call": None,
            }
        job.state = DONE
        self.hub.publish("dial", job.to_json(), extensions=[job.from_extension])

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
