"""Users, API tokens and browser sessions of the gateway, in the journal's database.

Passwords are hashed with Argon2id (argon2-cffi); a login for an unknown user still runs one hash
verification, so timing does not tell which usernames exist. API tokens and session ids are 256-bit
random strings: only their SHA-256 digest is stored (a fast hash suffices for random secrets of that
size, and makes the per-request lookup cheap); a token is shown once, when created.

The tables have their own Alembic history and version table (``migrations/``), applied on open.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path

from alembic.runtime.migration import MigrationContext
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import (
    JSON,
    Column,
    Connection,
    Float,
    MetaData,
    Table,
    Text,
    delete,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from ajam.calls.journal import migrate
from ajam.calls.journal.engine import WRITE, create_journal_engine, is_memory
from ajam.calls.journal.location import resolve, safe_text, scrub
from ajam.errors import JournalError

ADMIN = "admin"
SUPERVISOR = "supervisor"
OPERATOR = "operator"
ROLES = (ADMIN, SUPERVISOR, OPERATOR)
VERSION_TABLE = "ajam_gateway_version"
MIGRATIONS = Path(__file__).with_name("migrations")
MIN_PASSWORD = 8
TOKEN_PREFIX = "ajam_"
_ADVISORY_LOCK = 0x616A6777  # "ajgw"
_NAME = re.compile(r"[A-Za-z0-9._@-]{1,64}")
_EXTENSION = re.compile(r"[A-Za-z0-9_*#+-]{1,32}")

metadata = MetaData()
users_table = Table(
    "gateway_users",
    metadata,
    Column("username", Text, primary_key=True),
    Column("role", Text, nullable=False),
    Column("extensions", JSON, nullable=False),
    Column("password_hash", Text, nullable=False),
    Column("created_at", Float, nullable=False),
)
tokens_table = Table(
    "gateway_tokens",
    metadata,
    Column("name", Text, primary_key=True),
    Column("role", Text, nullable=False),
    Column("extensions", JSON, nullable=False),
    Column("token_hash", Text, nullable=False, unique=True),
    Column("created_at", Float, nullable=False),
)
sessions_table = Table(
    "gateway_sessions",
    metadata,
    Column("session_hash", Text, primary_key=True),
    Column("username", Text, nullable=False),
    Column("csrf_token", Text, nullable=False),
    Column("expires_at", Float, nullable=False, index=True),
)


class UserExists(ValueError):
    """A user or token with that name exists already."""


@dataclass(frozen=True)
class User:
    username: str
    role: str
    extensions: frozenset[str]

    def to_json(self) -> dict[str, object]:
        return {"username": self.username, "role": self.role, "extensions": sorted(self.extensions)}


@dataclass(frozen=True)
class ApiToken:
    name: str
    role: str
    extensions: frozenset[str]
    created_at: float

    def to_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "role": self.role,
            "extensions": sorted(self.extensions),
            "created_at": self.created_at,
        }


@dataclass(frozen=True)
class Session:
    username: str
    csrf_token: str
    expires_at: float


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def check_name(what: str, name: str) -> str:
    if not _NAME.fullmatch(name):
        raise ValueError(f"{what} must be 1-64 characters: letters, digits, '.', '_', '@' or '-'")
    return name


def check_role(role: str) -> str:
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; one of {', '.join(ROLES)}")
    return role


def check_extensions(role: str, extensions: Iterable[str]) -> frozenset[str]:
    """An operator needs at least one extension; admins and supervisors see every extension anyway."""
    found = frozenset(extensions)
    for extension in found:
        if not _EXTENSION.fullmatch(extension):
            raise ValueError(f"not an extension: {extension[:40]!r}")
    if role == OPERATOR and not found:
        raise ValueError("an operator needs at least one extension")
    return found if role == OPERATOR else frozenset()


def check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise ValueError(f"the password needs at least {MIN_PASSWORD} characters")
    if len(password) > 1024:
        raise ValueError("the password is too long (at most 1024 characters)")
    return password


class UserStore:
    """Synchronous and thread-safe; the web app calls it from worker threads."""

    def __init__(self, url_or_path: str | None) -> None:
        self._url = resolve(url_or_path)
        self._name = safe_text(self._url)
        self._engine = create_journal_engine(self._url)
        self._lock: AbstractContextManager[object] = (
            threading.Lock() if is_memory(self._url) else nullcontext()
        )
        self._hasher = PasswordHasher()
        self._dummy_hash = self._hasher.hash(secrets.token_urlsafe(16))

    @property
    def name(self) -> str:
        return self._name

    # -- schema -----------------------------------------------------------------------------------
    def upgrade(self) -> None:
        with self._write("migrating the gateway's tables") as connection:
            migrate.upgrade(connection, scripts=MIGRATIONS, lock_key=_ADVISORY_LOCK)

    def revision(self) -> str | None:
        with self._read("reading the gateway's schema revision") as connection:
            context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
            return context.get_current_revision()

    # -- users ------------------------------------------------------------------------------------
    def add_user(self, username: str, password: str, role: str, extensions: Iterable[str] = ()) -> User:
        check_name("the username", username)
        check_role(role)
        bound = check_extensions(role, extensions)
        password_hash = self._hasher.hash(check_password(password))
        row = {
            "username": username,
            "role": role,
            "extensions": sorted(bound),
            "password_hash": password_hash,
            "created_at": time.time(),
        }
        try:
            with self._write("adding a user") as connection:
                connection.execute(insert(users_table), row)
        except UserExists:
            raise UserExists(f"user {username!r} exists already") from None
        return User(username, role, bound)

    def set_password(self, username: str, password: str) -> bool:
        password_hash = self._hasher.hash(check_password(password))
        with self._write("changing a password") as connection:
            changed = connection.execute(
                update(users_table)
                .where(users_table.c.username == username)
                .values(password_hash=password_hash)
            ).rowcount
            connection.execute(delete(sessions_table).where(sessions_table.c.username == username))
        return bool(changed)

    def delete_user(self, username: str) -> bool:
        with self._write("deleting a user") as connection:
            connection.execute(delete(sessions_table).where(sessions_table.c.username == username))
            removed = connection.execute(delete(users_table).where(users_table.c.username == username))
        return bool(removed.rowcount)

    def get_user(self, username: str) -> User | None:
        statement = select(users_table.c.username, users_table.c.role, users_table.c.extensions).where(
            users_table.c.username == username
        )
        with self._read("reading a user") as connection:
            row = connection.execute(statement).first()
        return None if row is None else User(row[0], row[1], frozenset(row[2]))

    def list_users(self) -> list[User]:
        statement = select(users_table.c.username, users_table.c.role, users_table.c.extensions).order_by(
            users_table.c.username
        )
        with self._read("listing users") as connection:
            return [User(row[0], row[1], frozenset(row[2])) for row in connection.execute(statement)]

    def count_users(self) -> int:
        return len(self.list_users())

    def authenticate(self, username: str, password: str) -> User | None:
        """The user when the password is right; ``None`` otherwise (same cost either way)."""
        statement = select(users_table).where(users_table.c.username == username)
        with self._read("checking a password") as connection:
            row = connection.execute(statement).mappings().first()
        stored = row["password_hash"] if row is not None else self._dummy_hash
        try:
            self._hasher.verify(stored, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return None
        if row is None:
            return None
        if self._hasher.check_needs_rehash(stored):
            self.set_password(username, password)
        return User(row["username"], row["role"], frozenset(row["extensions"]))

    # -- API tokens -------------------------------------------------------------------------------
    def create_token(self, name: str, role: str, extensions: Iterable[str] = ()) -> tuple[str, ApiToken]:
        """A new token (returned once, in clear) and its record."""
        check_name("the token name", name)
        check_role(role)
        bound = check_extensions(role, extensions)
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        record = ApiToken(name, role, bound, time.time())
        row = {
            "name": name,
            "role": role,
            "extensions": sorted(bound),
            "token_hash": digest(token),
            "created_at": record.created_at,
        }
        try:
            with self._write("creating a token") as connection:
                connection.execute(insert(tokens_table), row)
        except UserExists:
            raise UserExists(f"a token named {name!r} exists already") from None
        return token, record

    def find_token(self, token: str) -> ApiToken | None:
        statement = select(tokens_table).where(tokens_table.c.token_hash == digest(token))
        with self._read("checking a token") as connection:
            row = connection.execute(statement).mappings().first()
        if row is None:
            return None
        return ApiToken(row["name"], row["role"], frozenset(row["extensions"]), row["created_at"])

    def list_tokens(self) -> list[ApiToken]:
        statement = select(tokens_table).order_by(tokens_table.c.name)
        with self._read("listing tokens") as connection:
            rows = connection.execute(statement).mappings().all()
        return [ApiToken(r["name"], r["role"], frozenset(r["extensions"]), r["created_at"]) for r in rows]

    def delete_token(self, name: str) -> bool:
        with self._write("deleting a token") as connection:
            return bool(connection.execute(delete(tokens_table).where(tokens_table.c.name == name)).rowcount)

    # -- sessions ---------------------------------------------------------------------------------
    def create_session(self, username: str, ttl: float, now: float | None = None) -> tuple[str, Session]:
        """A new session id (for the cookie, never stored in clear) and the session."""
        moment = time.time() if now is None else now
        session_id = secrets.token_urlsafe(32)
        session = Session(username, secrets.token_urlsafe(32), moment + ttl)
        with self._write("opening a session") as connection:
            connection.execute(delete(sessions_table).where(sessions_table.c.expires_at <= moment))
            connection.execute(
                insert(sessions_table),
                {
                    "session_hash": digest(session_id),
                    "username": username,
                    "csrf_token": session.csrf_token,
                    "expires_at": session.expires_at,
                },
            )
        return session_id, session

    def find_session(self, session_id: str, now: float | None = None) -> Session | None:
        moment = time.time() if now is None else now
        statement = select(sessions_table).where(sessions_table.c.session_hash == digest(session_id))
        with self._read("reading a session") as connection:
            row = connection.execute(statement).mappings().first()
        if row is None or row["expires_at"] <= moment:
            return None
        return Session(row["username"], row["csrf_token"], row["expires_at"])

    def delete_session(self, session_id: str) -> None:
        with self._write("closing a session") as connection:
            connection.execute(
                delete(sessions_table).where(sessions_table.c.session_hash == digest(session_id))
            )

    # -- lifecycle --------------------------------------------------------------------------------
    def close(self) -> None:
        self._engine.dispose()

    @contextmanager
    def _read(self, action: str) -> Iterator[Connection]:
        with self._lock, self._errors(action), self._engine.connect() as connection:
            yield connection

    @contextmanager
    def _write(self, action: str) -> Iterator[Connection]:
        with (
            self._lock,
            self._errors(action),
            self._engine.connect().execution_options(**WRITE) as connection,
            connection.begin(),
        ):
            yield connection

    @contextmanager
    def _errors(self, action: str) -> Iterator[None]:
        """Database errors → ``JournalError`` without the password; a duplicate key → ``UserExists``."""
        try:
            yield
        except IntegrityError:
            raise UserExists(action) from None
        except SQLAlchemyError as error:
            reason = str(getattr(error, "orig", None) or error).strip().splitlines()
            detail = scrub(reason[0] if reason else type(error).__name__, self._url)
            raise JournalError(f"{action} failed on {self._name}: {detail}") from None


def open_store(url_or_path: str | None) -> UserStore:
    """The gateway's store on the journal's database (``None`` → the default journal file), migrated."""
    store = UserStore(url_or_path)
    try:
        store.upgrade()
    except BaseException:
        store.close()
        raise
    return store
