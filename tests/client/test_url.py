from __future__ import annotations

from pathlib import Path

import pytest

from ajam.client.url import InvalidUrl, parse_url
from ajam.protocol.http import Encoder

NO_ENV: dict[str, str] = {}


def test_ami_url_with_default_port() -> None:
    url = parse_url("ami://admin:s3cret@pbx.example.com", env=NO_ENV, config_path="/nonexistent")
    assert (url.scheme, url.host, url.port, url.username, url.secret) == (
        "ami",
        "pbx.example.com",
        5038,
        "admin",
        "s3cret",
    )
    assert not url.is_http and not url.tls and url.auth == "plain"


def test_amis_is_tls_on_5039_and_md5_auth_option() -> None:
    url = parse_url("amis://admin:s3cret@pbx:6000?auth=md5", env=NO_ENV, config_path="/nonexistent")
    assert url.tls and url.port == 6000 and url.auth == "md5"


@pytest.mark.parametrize(
    ("path", "encoder", "digest", "full"),
    [
        ("", Encoder.RAWMAN, False, "/asterisk/rawman"),
        ("/asterisk", Encoder.RAWMAN, False, "/asterisk/rawman"),
        ("/asterisk/rawman", Encoder.RAWMAN, False, "/asterisk/rawman"),
        ("/asterisk/mxml", Encoder.MXML, False, "/asterisk/mxml"),
        ("/asterisk/manager", Encoder.MANAGER, False, "/asterisk/manager"),
        ("/asterisk/arawman", Encoder.RAWMAN, True, "/asterisk/arawman"),
        ("/asterisk/amxml", Encoder.MXML, True, "/asterisk/amxml"),
        ("/pbx/rawman", Encoder.RAWMAN, False, "/pbx/rawman"),
    ],
)
def test_http_paths_pick_the_encoder(path: str, encoder: Encoder, digest: bool, full: str) -> None:
    url = parse_url(f"http://admin:s3cret@127.0.0.1:8088{path}", env=NO_ENV, config_path="/nonexistent")
    assert url.endpoint is not None
    assert (url.endpoint.encoder, url.endpoint.digest) == (encoder, digest)
    assert url.http_url() == f"http://127.0.0.1:8088{full}"


def test_https_default_port() -> None:
    assert parse_url("https://u:p@pbx/asterisk", env=NO_ENV, config_path="/nonexistent").port == 8089


def test_redacted_never_shows_the_secret() -> None:
    url = parse_url("ami://admin:topsecret@pbx:5038?auth=md5", env=NO_ENV, config_path="/nonexistent")
    assert "topsecret" not in url.redacted()
    assert "topsecret" not in repr(url) and "topsecret" not in str(url)
    assert url.redacted() == "ami://admin:***@pbx:5038?auth=md5"


def test_percent_encoded_credentials() -> None:
    url = parse_url("ami://ad%40min:p%3Ass@pbx", env=NO_ENV, config_path="/nonexistent")
    assert (url.username, url.secret) == ("ad@min", "p:ss")


@pytest.mark.parametrize(
    "text",
    ["ftp://pbx", "ami://", "ami://pbx:99999", "ami://pbx/some/path", "ami://pbx?auth=kerberos", "pbx:5038"],
)
def test_invalid_urls(text: str) -> None:
    with pytest.raises(InvalidUrl):
        parse_url(text, env=NO_ENV, config_path="/nonexistent")


def test_credentials_from_environment() -> None:
    env = {"AJAM_USERNAME": "crm", "AJAM_SECRET": "envsecret"}
    url = parse_url("ami://pbx", env=env, config_path="/nonexistent")
    assert (url.username, url.secret) == ("crm", "envsecret")


def test_url_credentials_win_over_environment() -> None:
    env = {"AJAM_USERNAME": "crm", "AJAM_SECRET": "envsecret"}
    url = parse_url("ami://admin:s3cret@pbx", env=env, config_path="/nonexistent")
    assert (url.username, url.secret) == ("admin", "s3cret")


def test_credentials_from_config_file_by_host_port_then_host(tmp_path: Path) -> None:
    config = tmp_path / "credentials.toml"
    config.write_text(
        '["pbx:6038"]\nusername = "special"\nsecret = "one"\n\n["pbx"]\nusername = "crm"\nsecret = "two"\n'
    )
    assert parse_url("ami://pbx:6038", env=NO_ENV, config_path=config).secret == "one"
    fallback = parse_url("ami://pbx", env={"AJAM_CONFIG": str(config)})
    assert (fallback.username, fallback.secret) == ("crm", "two")
    other_user = parse_url("ami://someone@pbx", env=NO_ENV, config_path=config)
    assert other_user.secret is None


def test_broken_config_file_is_reported_without_content(tmp_path: Path) -> None:
    config = tmp_path / "credentials.toml"
    config.write_text('["pbx"\nsecret = "leak"')
    with pytest.raises(InvalidUrl) as caught:
        parse_url("ami://pbx", env=NO_ENV, config_path=config)
    assert "leak" not in str(caught.value)
