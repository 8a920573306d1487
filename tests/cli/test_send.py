from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from click.testing import CliRunner

from ajam.cli import exit_codes
from ajam.cli.main import main
from tests.client.replay import ThreadedReplay


@pytest.fixture
def replay(request: pytest.FixtureRequest) -> Iterator[ThreadedReplay]:
    server = ThreadedReplay(request.param)
    yield server
    server.close()


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_help_documents_exit_codes() -> None:
    code, out, _ = invoke("--help")
    assert code == 0
    for line in ("0  ok", "2  usage error", "3  authentication failed", "5  action failed", "6  timeout"):
        assert line in out


@pytest.mark.parametrize("replay", ["ami_12_eventlist_variants"], indirect=True)
def test_send_json_shape_with_list_events(replay: ThreadedReplay) -> None:
    code, out, _ = invoke("send", replay.server.url(), "QueueStatus", "--json")
    assert code == exit_codes.OK
    data = json.loads(out)
    assert set(data) == {"response", "events"}
    assert data["response"]["Response"] == "Success" and data["response"]["EventList"] == "start"
    assert data["events"][0]["Event"] == "QueueParams"
    assert data["events"][-1]["EventList"] == "Complete"


@pytest.mark.parametrize("replay", ["ami_09_command_multiline_unknown_empty"], indirect=True)
def test_send_plain_prints_command_output(replay: ThreadedReplay) -> None:
    code, out, _ = invoke("send", replay.server.url(), "Command", "Command=core show uptime")
    assert code == 0
    assert out.startswith("Response: Success\n")
    assert "Output: System uptime" in out
    assert b"Command: core show uptime\r\n" in replay.server.received[1]


@pytest.mark.parametrize("replay", ["ami_09_command_multiline_unknown_empty"], indirect=True)
def test_repeated_keys_become_lists_in_json(replay: ThreadedReplay) -> None:
    invoke("send", replay.server.url(), "Command", "Command=core show uptime")
    code, out, _ = invoke("send", replay.server.url(), "Command", "Command=core show help", "--json")
    assert code == 0
    assert isinstance(json.loads(out)["response"]["Output"], list)


@pytest.mark.parametrize("replay", ["ami_60_limited_user_permission_denied"], indirect=True)
def test_permission_denied_exits_5(replay: ThreadedReplay) -> None:
    url = replay.server.url(user="limited", secret="limited1")
    code, _, _ = invoke("send", url, "Ping")
    assert code == 0
    code, out, err = invoke("send", url, "Command", "Command=core show version")
    assert code == exit_codes.ACTION_FAILED
    assert "Message: Permission denied" in out
    assert "needs write class command" in err


@pytest.mark.parametrize("replay", ["ami_03_login_failure"], indirect=True)
def test_auth_failure_exits_3_without_the_secret(replay: ThreadedReplay) -> None:
    code, out, err = invoke("send", replay.server.url(secret="hunter2"), "Ping")
    assert code == exit_codes.AUTHENTICATION_FAILED
    assert "hunter2" not in out + err
    assert "AuthenticationFailed" in err


@pytest.mark.parametrize("replay", ["ami_02_login_success"], indirect=True)
def test_crlf_in_key_value_is_a_usage_error_and_nothing_is_sent(replay: ThreadedReplay) -> None:
    code, _, err = invoke("send", replay.server.url(), "Originate", "Channel=Local/1@x\r\nAction: Command")
    assert code == exit_codes.USAGE
    assert "inject" in err
    assert replay.server.connections == 0


def test_bad_key_value_and_bad_url_are_usage_errors() -> None:
    assert invoke("send", "ami://u:p@127.0.0.1:1", "Ping", "NoEquals")[0] == exit_codes.USAGE
    assert invoke("send", "ftp://pbx", "Ping")[0] == exit_codes.USAGE


def test_unreachable_exits_4() -> None:
    code, _, err = invoke("send", "ami://admin:s3cret@127.0.0.1:1", "Ping")
    assert code == exit_codes.CANNOT_CONNECT
    assert "s3cret" not in err
