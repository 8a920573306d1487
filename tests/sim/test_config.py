from __future__ import annotations

from pathlib import Path

from ajam.protocol.permissions import CLASSES
from ajam.sim.config import default_config, load_manager_conf, parse_manager_conf
from tests.support.transcripts import require_shared


def test_reads_the_capture_manager_conf() -> None:
    config = load_manager_conf(require_shared() / "config" / "manager.conf")
    assert (config.port, config.bindaddr, config.webenabled) == (5038, "127.0.0.1", True)
    assert (config.httptimeout, config.authtimeout) == (60, 30)
    admin, limited = config.user("admin"), config.user("LIMITED")
    assert admin is not None and limited is not None
    assert admin.secret == "s3cret" and admin.read == frozenset(CLASSES) == admin.write
    assert limited.secret == "limited1" and limited.read == {"call"} and limited.write == {"originate"}
    assert admin.allows("127.0.0.1") and not admin.allows("10.1.2.3")


def test_defaults_are_the_capture_users() -> None:
    config = default_config()
    assert sorted(config.users) == ["admin", "limited"]
    assert config.webenabled and config.httptimeout == 60 and config.authtimeout == 30
    limited = config.user("limited")
    assert limited is not None and limited.allows("127.0.0.1") and not limited.allows("192.168.0.9")


def test_acl_last_matching_rule_wins_and_unmatched_is_allowed() -> None:
    config = parse_manager_conf(
        """
        [general]
        webenabled = no      ; comment
        httptimeout = 20
        authtimeout = 5
        [ops]
        secret => pw
        deny = 10.0.0.0/8
        permit = 10.1.0.0/255.255.0.0
        read = system, call
        write = bogus,command
        """
    )
    assert not config.webenabled and config.httptimeout == 20 and config.authtimeout == 5
    ops = config.user("ops")
    assert ops is not None and ops.secret == "pw"
    assert ops.read == {"system", "call"} and ops.write == {"command"}
    assert ops.allows("10.1.2.3") and not ops.allows("10.2.0.1") and ops.allows("192.168.1.1")
    assert not ops.allows("not-an-ip")


def test_repr_hides_the_secret(tmp_path: Path) -> None:
    path = tmp_path / "manager.conf"
    path.write_text("[general]\n[bob]\nsecret=hunter2\nread=all\n")
    user = load_manager_conf(path).user("bob")
    assert user is not None and "hunter2" not in repr(user)
