"""Authentication and authorisation of every REST endpoint: 401 without credentials, 403 for the wrong
role, extension or CSRF token, bearer tokens without CSRF, the login rate limit, cookie attributes, and
no secret in any response or log line."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from ajam.gateway.auth import LoginLimiter, Principal, RateLimited
from tests.gateway.gateway_app import Gateway, running_gateway

# method, path, JSON body — every endpoint that needs a principal
PROTECTED = [
    ("POST", "/api/logout", None),
    ("GET", "/api/me", None),
    ("GET", "/api/calls/live", None),
    ("GET", "/api/journal", None),
    ("GET", "/api/journal/missed", None),
    ("GET", "/api/journal.csv", None),
    ("POST", "/api/dial", {"to": "4951112233", "from_extension": "101"}),
    ("GET", "/api/dial/some-id", None),
    ("GET", "/api/queues", None),
    ("POST", "/api/sms", {"to": "101", "body": "hello"}),
    ("GET", "/api/recordings/some-call", None),
    ("POST", "/api/admin/action", {"action": "Ping"}),
    ("GET", "/api/admin/users", None),
    ("POST", "/api/admin/users", {"username": "x", "password": "long enough", "role": "admin"}),
    ("DELETE", "/api/admin/users/x", None),
    ("GET", "/api/admin/tokens", None),
    ("POST", "/api/admin/tokens", {"name": "x", "role": "admin"}),
    ("DELETE", "/api/admin/tokens/x", None),
    ("GET", "/api/poll?timeout=0", None),
]
STAFF_ONLY = [("GET", "/api/queues", None), ("GET", "/api/journal.csv", None)]
ADMIN_ONLY = [entry for entry in PROTECTED if entry[1].startswith("/api/admin/")]


async def request(client: object, method: str, path: str, body: object) -> int:
    response = await client.request(method, path, json=body)  # type: ignore[attr-defined]
    return int(response.status_code)


def no_leak(gateway: Gateway) -> None:
    assert gateway.leaked() == []


async def test_every_endpoint_refuses_the_unauthenticated(tmp_path: Path) -> None:
    async with running_gateway(tmp_path) as gateway:
        anonymous = gateway.client()
        forged = gateway.client({"Authorization": "Bearer ajam_not-a-real-token"})
        malformed = gateway.client({"Authorization": "Basic YWRtaW46YWRtaW4="})
        stale = gateway.client()
        stale.cookies.set("ajam_session", "made-up-session-id")
        for method, path, body in PROTECTED:
            for client in (anonymous, forged, malformed, stale):
                assert await request(client, method, path, body) == 401, (method, path)
        response = await anonymous.get("/api/me")
        assert response.headers["www-authenticate"] == "Bearer"
        public = await anonymous.get("/api/health")
        assert public.status_code == 200 and public.json()["pbx"] == "connected"
        assert set(public.json()) == {"status", "pbx", "version"}
        assert (await anonymous.get("/openapi.json")).status_code == 200
        no_leak(gateway)


async def test_roles(tmp_path: Path) -> None:
    async with running_gateway(tmp_path) as gateway:
        operator = await gateway.login("op101")
        supervisor = await gateway.login("super")
        admin = await gateway.login("admin")
        for method, path, body in STAFF_ONLY + ADMIN_ONLY:
            assert await request(operator, method, path, body) == 403, (method, path)
        for method, path, body in ADMIN_ONLY:
            assert await request(supervisor, method, path, body) == 403, (method, path)
        for method, path, body in STAFF_ONLY:
            assert await request(supervisor, method, path, body) == 200, (method, path)
        assert await request(admin, "GET", "/api/admin/users", None) == 200
        assert await request(admin, "POST", "/api/admin/action", {"action": "Ping"}) == 200
        # an operator's extension binds what it may ask for
        assert await request(operator, "GET", "/api/journal?extension=102", None) == 403
        assert await request(operator, "GET", "/api/journal/missed?extension=102", None) == 403
        assert await request(operator, "GET", "/api/journal?extension=101", None) == 200
        dial_as_other = {"to": "4951112233", "from_extension": "102"}
        assert await request(operator, "POST", "/api/dial", dial_as_other) == 403
        no_leak(gateway)


async def test_csrf_is_required_for_cookie_sessions_but_not_for_tokens(tmp_path: Path) -> None:
    async with running_gateway(tmp_path) as gateway:
        admin = await gateway.login("admin")
        token = (await admin.post("/api/admin/tokens", json={"name": "crm", "role": "admin"})).json()["token"]
        csrf = admin.headers.pop("X-CSRF-Token")
        assert (await admin.post("/api/admin/action", json={"action": "Ping"})).status_code == 403
        admin.headers["X-CSRF-Token"] = "wrong" + csrf
        assert (await admin.post("/api/admin/action", json={"action": "Ping"})).status_code == 403
        assert (await admin.post("/api/logout")).status_code == 403
        assert (await admin.get("/api/me")).status_code == 200  # reading needs no CSRF token
        admin.headers["X-CSRF-Token"] = csrf
        assert (await admin.post("/api/admin/action", json={"action": "Ping"})).status_code == 200
        crm = await gateway.bearer(token)
        reply = await crm.post("/api/admin/action", json={"action": "Ping"})
        assert reply.status_code == 200 and reply.json()["response"]["Ping"] == "Pong"
        no_leak(gateway)


async def test_login_me_logout_and_cookie_attributes(tmp_path: Path) -> None:
    async with running_gateway(tmp_path) as gateway:
        client = gateway.client()
        password = gateway.passwords["op101"]
        response = await client.post("/api/login", json={"username": "op101", "password": password})
        assert response.status_code == 200
        body = response.json()
        assert body["username"] == "op101" and body["role"] == "operator" and body["extensions"] == ["101"]
        cookie = response.headers["set-cookie"]
        assert cookie.startswith("ajam_session=") and "HttpOnly" in cookie
        assert "SameSite=strict" in cookie or "samesite=strict" in cookie.lower()
        assert "Secure" not in cookie  # plain http on loopback
        me = (await client.get("/api/me")).json()
        assert me["csrf_token"] == body["csrf_token"] and me["extensions"] == ["101"]
        client.headers["X-CSRF-Token"] = body["csrf_token"]
        assert (await client.post("/api/logout")).status_code == 200
        assert (await client.get("/api/me")).status_code == 401
        wrong = await client.post("/api/login", json={"username": "op101", "password": password + "x"})
        unknown = await client.post("/api/login", json={"username": "nobody", "password": password})
        assert wrong.status_code == unknown.status_code == 401
        assert wrong.json() == unknown.json()  # nothing tells which usernames exist
        no_leak(gateway)


async def test_secure_cookie_when_configured(tmp_path: Path) -> None:
    async with running_gateway(tmp_path, secure_cookies=True) as gateway:
        client = gateway.client()
        response = await client.post(
            "/api/login", json={"username": "admin", "password": gateway.passwords["admin"]}
        )
        assert "Secure" in response.headers["set-cookie"]


async def test_login_rate_limit(tmp_path: Path) -> None:
    async with running_gateway(tmp_path) as gateway:
        client = gateway.client()
        password = gateway.passwords["op102"]
        for _ in range(5):
            wrong = await client.post("/api/login", json={"username": "op102", "password": "guess-guess"})
            assert wrong.status_code == 401
        limited = await client.post("/api/login", json={"username": "op102", "password": password})
        assert limited.status_code == 429 and 1 <= int(limited.headers["retry-after"]) <= 60
        other = await client.post(
            "/api/login", json={"username": "op101", "password": gateway.passwords["op101"]}
        )
        assert other.status_code == 200  # another username is not locked out
        no_leak(gateway)


def test_limiter_window_and_reset() -> None:
    now = [0.0]
    limiter = LoginLimiter(3, 60.0, clock=lambda: now[0])
    key = ("ivan", "127.0.0.1")
    for _ in range(3):
        limiter.check(key)
        limiter.failed(key)
    with pytest.raises(RateLimited) as raised:
        limiter.check(key)
    assert raised.value.retry_after == pytest.approx(60.0)
    now[0] = 61.0
    limiter.check(key)  # the window has passed
    limiter.failed(key)
    limiter.succeeded(key)
    limiter.check(key)


def test_principal_scope() -> None:
    operator = Principal("ivan", "operator", frozenset({"101", "103"}))
    assert operator.sees(["79161234567", "101"]) and not operator.sees(["102"]) and not operator.sees([])
    assert operator.may_use_extension("103") and not operator.may_use_extension("102")
    supervisor = Principal("anna", "supervisor", frozenset())
    assert supervisor.sees([]) and supervisor.may_use_extension("102")


async def test_websocket_handshake_authentication(tmp_path: Path) -> None:
    import json

    import websockets
    from websockets.exceptions import InvalidStatus

    from tests.gateway.push_server import serve

    # the test's own client library logs the headers it sends; the gateway's logs are what is checked
    logging.getLogger("websockets.client").setLevel(logging.INFO)
    async with running_gateway(tmp_path) as gateway:
        operator = await gateway.login("op101")
        session = operator.cookies["ajam_session"]
        admin = await gateway.login("admin")
        token = (await admin.post("/api/admin/tokens", json={"name": "ws", "role": "supervisor"})).json()[
            "token"
        ]
        gateway.secrets.add(token)
        async with serve(gateway.app) as address:
            url = f"ws://{address}/api/ws"
            for headers in ({}, {"Cookie": "ajam_session=forged"}, {"Authorization": "Bearer nope"}):
                try:
                    async with websockets.connect(url, additional_headers=headers) as refused:
                        await refused.recv()
                    raise AssertionError(f"accepted {headers}")
                except InvalidStatus as error:
                    assert error.response.status_code in (401, 403)
                except websockets.ConnectionClosed as closed:
                    assert closed.rcvd is not None and closed.rcvd.code == 4401
            cross_site = {"Cookie": f"ajam_session={session}", "Origin": "http://evil.example"}
            try:
                async with websockets.connect(url, additional_headers=cross_site) as refused:
                    await refused.recv()
                raise AssertionError("a cross-site WebSocket was accepted")
            except (InvalidStatus, websockets.ConnectionClosed):
                pass
            for headers, username in (
                ({"Cookie": f"ajam_session={session}", "Origin": f"http://{address}"}, "op101"),
                ({"Authorization": f"Bearer {token}"}, "token:ws"),
            ):
                async with websockets.connect(url, additional_headers=headers) as feed:
                    hello = json.loads(await feed.recv())
                    assert hello["type"] == "hello" and hello["data"]["username"] == username
        assert gateway.leaked() == []
