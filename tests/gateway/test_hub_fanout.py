"""Fan-out by scope: an operator's subscription is offered only its extensions' envelopes."""

from __future__ import annotations

from ajam.gateway.auth import Principal
from ajam.gateway.hub import Envelope, EventHub, filter_scope
from ajam.gateway.push import VisibilityFilter, envelope_filter


class Counting:
    """A scoped filter that counts how often the hub asks it."""

    def __init__(self, *extensions: str) -> None:
        self.scope = frozenset(extensions)
        self.asked = 0

    def __call__(self, envelope: Envelope) -> bool:
        self.asked += 1
        return not envelope.extensions or not self.scope.isdisjoint(envelope.extensions)


def cursors(subscription: object) -> list[int]:
    queue = subscription._queue  # type: ignore[attr-defined]
    return [envelope.cursor for envelope in queue]


def test_scoped_subscriptions_are_offered_only_their_extensions() -> None:
    hub = EventHub(start=0)
    filters = [Counting(str(1001 + index)) for index in range(100)]
    subscriptions = [hub.subscribe(accepts) for accepts in filters]
    everything = hub.subscribe()
    hub.publish("ringing", {}, extensions=["1005"])
    hub.publish("ended", {}, extensions=["1005", "1006", "1007"])
    hub.publish("pbx", {"state": "connected"})
    assert cursors(subscriptions[4]) == [1, 2, 3]
    assert cursors(subscriptions[5]) == [2, 3]
    assert cursors(subscriptions[9]) == [3]
    assert cursors(everything) == [1, 2, 3]
    assert filters[50].asked == 1  # only the envelope without extensions
    assert sum(accepts.asked for accepts in filters) == 1 + 3 + 100


def test_a_subscription_scoped_on_several_extensions_gets_an_envelope_once() -> None:
    hub = EventHub(start=0)
    subscription = hub.subscribe(Counting("101", "102"))
    hub.publish("ended", {}, extensions=["101", "102"])
    assert cursors(subscription) == [1]


def test_closed_subscriptions_leave_the_index() -> None:
    hub = EventHub(start=0)
    first = hub.subscribe(Counting("101"))
    second = hub.subscribe(Counting("101"))
    first.close()
    hub.publish("ringing", {}, extensions=["101"])
    assert cursors(first) == [] and cursors(second) == [1]
    second.close()
    assert hub.subscriber_count == 0 and not hub._by_extension
    hub.publish("ringing", {}, extensions=["101"])  # nobody left: nothing to offer


def test_unscoped_filters_still_decide_for_themselves() -> None:
    hub = EventHub(start=0)
    odd = hub.subscribe(lambda envelope: envelope.cursor % 2 == 1)
    hub.subscribe(Counting("101"))
    for _ in range(4):
        hub.publish("ringing", {}, extensions=["102"])
    assert cursors(odd) == [1, 3]


def test_visibility_filters_declare_their_scope() -> None:
    operator = Principal("op", "operator", frozenset({"1001"}))
    supervisor = Principal("boss", "supervisor", frozenset())
    assert isinstance(envelope_filter(operator), VisibilityFilter)
    assert filter_scope(envelope_filter(operator)) == frozenset({"1001"})
    assert filter_scope(envelope_filter(supervisor)) is None
    hub = EventHub(start=0)
    mine = hub.subscribe(envelope_filter(operator))
    boss = hub.subscribe(envelope_filter(supervisor))
    hub.publish("ringing", {}, extensions=["1001"])
    hub.publish("ringing", {}, extensions=["1002"])
    hub.publish("queue", {"queues": []})
    hub.publish("pbx", {"state": "connected"})
    assert cursors(mine) == [1, 4]
    assert cursors(boss) == [1, 2, 3, 4]
