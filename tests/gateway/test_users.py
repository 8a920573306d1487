"""The user/token/session store (Argon2 hashes, hashed tokens, own migrations) and the admin API."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest

from ajam.calls.journal import open_journal
from ajam.gateway.users import UserExists, digest, open_store
from tests.gateway.gateway_app import running_gateway


def test_store_hashes_and_migrations_beside_the_journal(tmp_path: Path) -> None:
    db = tmp_path / "calls.db"
    journal = open_journal(str(db))
    store = open_store(str(db))
    try:
        assert store.revision() == "g0001" and journal.revision() == "0001"
        user = store.add_user("ivan", "correct horse", "operator", ["101"])
        assert user.extensions == frozenset({"101"})
        assert store.authenticate("ivan", "correct horse") == user
        assert store.authenticate("ivan", "wrong horse!") is None
        assert store.authenticate("nobody", "correct horse") is None
        with pytest.raises(UserExists):
            store.add_user("ivan", "another pass", "admin")
        for bad in (
            lambda: store.add_user("anna", "short", "operator", ["102"]),
            lambda: store.add_user("anna", "long enough", "operator"),  # an operator needs an extension
            lambda: store.add_user("anna", "long enough", "king"),
            lambda: store.add_user("anna bob", "long enough", "admin"),
            lambda: store.add_user("anna", "long enough", "operator", ["10\r\n1"]),
        ):
            with pytest.raises(ValueError):
                bad()
        assert store.add_user("boss", "long enough", "supervisor", ["101"]).extensions == frozenset()
        token, record = store.create_token("crm", "operator", ["101"])
        assert store.find_token(token) == record and store.find_token(token + "x") is None
        session_id, session = store.create_session("ivan", ttl=60)
        assert store.find_session(session_id) == session
        assert store.find_session(session_id, now=time.time() + 61) is None
        assert store.set_password("ivan", "new password")
        assert store.find_session(session_id) is None  # a new password ends the sessions
        assert store.delete_token("crm") and store.find_token(token) is None
    finally:
        store.close()
        journal.close()
    with sqlite3.connect(db) as raw:
        tables = {row[0] for row in raw.execute("select name from sqlite_master where type='table'")}
        (password_hash,) = raw.execute(
            "select password_hash from gateway_users where username='ivan'"
        ).fetchone()
        sessions = raw.execute("select session_hash from gateway_sessions").fetchall()
    assert {"calls", "alembic_version", "gateway_users", "gateway_tokens", "ajam_gateway_version"} <= tables
    assert password_hash.startswith("$argon2id$") and "new password" not in password_hash
    assert all(len(row[0]) == 64 for row in sessions)  # SHA-256 hex digests, never the id itself
    assert digest("x") != "x"


async def test_admin_manages_users_and_tokens(tmp_path: Path) -> None:
    async with running_gateway(tmp_path) as gateway:
        admin = await gateway.login("admin")
        new = {"username": "olga", "password": "olga-password", "role": "operator", "extensions": ["103"]}
        gateway.secrets.add("olga-password")
        created = await admin.post("/api/admin/users", json=new)
        assert created.status_code == 201 and created.json()["extensions"] == ["103"]
        assert (await admin.post("/api/admin/users", json=new)).status_code == 409
        assert (
            await admin.post("/api/admin/users", json={**new, "username": "x", "role": "god"})
        ).status_code == 422
        assert (
            await admin.post("/api/admin/users", json={**new, "username": "y", "extensions": []})
        ).status_code == 422
        listed = (await admin.get("/api/admin/users")).json()["items"]
        assert {"username": "olga", "role": "operator", "extensions": ["103"]} in listed
        assert "argon2" not in str(listed)
        olga = gateway.client()
        login = await olga.post("/api/login", json={"username": "olga", "password": "olga-password"})
        assert login.status_code == 200 and login.json()["extensions"] == ["103"]

        issued = await admin.post(
            "/api/admin/tokens", json={"name": "crm", "role": "operator", "extensions": ["101"]}
        )
        assert issued.status_code == 201
        token = issued.json()["token"]
        assert token.startswith("ajam_")
        tokens = (await admin.get("/api/admin/tokens")).json()["items"]
        assert [entry["name"] for entry in tokens] == ["crm"] and token not in str(tokens)
        crm = await gateway.bearer(token)
        assert (await crm.get("/api/me")).json() == {
            "username": "token:crm",
            "role": "operator",
            "extensions": ["101"],
            "via_token": True,
            "csrf_token": None,
            "contact_url": None,
        }
        assert (await crm.post("/api/dial", json={"to": "4951112233"})).status_code == 202  # no CSRF needed
        assert (
            await crm.post("/api/dial", json={"to": "4951112233", "from_extension": "102"})
        ).status_code == 403
        assert (await crm.get("/api/admin/users")).status_code == 403
        assert (await admin.delete("/api/admin/tokens/crm")).status_code == 200
        assert (await crm.get("/api/me")).status_code == 401
        assert (await admin.delete("/api/admin/users/olga")).status_code == 200
        assert (await olga.get("/api/me")).status_code == 401  # the deleted user's session is gone
        assert (await admin.delete("/api/admin/users/admin")).status_code == 400
        assert gateway.leaked() == []
