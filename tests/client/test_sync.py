from __future__ import annotations

import threading

import pytest

from ajam.client import sync
from ajam.errors import AuthenticationFailed, PermissionDenied
from tests.client.replay import ThreadedReplay


@pytest.fixture
def replay_60() -> object:
    replay = ThreadedReplay("ami_60_limited_user_permission_denied")
    yield replay
    replay.close()


def test_sync_send_events_and_close(replay_60: ThreadedReplay) -> None:
    url = replay_60.server.url(user="limited", secret="limited1")
    with sync.connect(url, keepalive=None) as client:
        assert client.send("Ping").response.get("Ping") == "Pong"
        with pytest.raises(PermissionDenied):
            client.send("Command", {"Command": "core show version"})
        assert client.send("CoreShowChannels", check=False).response.message == "Permission denied"
        assert list(client.events(timeout=0.1)) == []
    assert replay_60.server.received[-1].startswith(b"Action: Logoff")


def test_sync_connect_failure_stops_its_thread() -> None:
    replay = ThreadedReplay("ami_03_login_failure")
    before = threading.active_count()
    try:
        with pytest.raises(AuthenticationFailed):
            sync.connect(replay.server.url(secret="bad"), keepalive=None)
        assert threading.active_count() <= before
    finally:
        replay.close()
