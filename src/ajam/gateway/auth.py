"""Who is asking: sessions (cookie + CSRF), API tokens (bearer), roles, extensions, login rate limit.

Every route depends on :func:`current_principal` (401 without valid credentials) or on
:func:`require_role` (403 for other roles). A request authenticated by the session cookie that changes
something (any method but GET/HEAD/OPTIONS) must carry ``X-CSRF-Token`` equal to the session's token
(403 otherwise); bearer-token requests are exempt, as browsers never add that header on their own.
"""

from __future__ import annotations

import asyncio
import hmac
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from fastapi import HTTPException, Request, WebSocket, status
from starlette.requests import HTTPConnection

from ajam.gateway.users import ADMIN, OPERATOR, SUPERVISOR, Session, User, UserStore

if TYPE_CHECKING:
    from ajam.gateway.settings import GatewaySettings

SESSION_COOKIE = "ajam_session"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
STAFF = frozenset({ADMIN, SUPERVISOR})


@dataclass(frozen=True)
class Principal:
    username: str
    role: str  # "admin" | "supervisor" | "operator" (an API token carries one of them too)
    extensions: frozenset[str]  # empty for admin/supervisor = all
    via_token: bool = False

    @property
    def is_staff(self) -> bool:
        """Admins and supervisors: every extension's calls."""
        return self.role in STAFF

    def sees(self, call_extensions: Iterable[str]) -> bool:
        """Admin/supervisor: always; operator: when one of their extensions took part."""
        if self.is_staff:
            return True
        return not self.extensions.isdisjoint(call_extensions)

    def may_use_extension(self, extension: str) -> bool:
        return self.is_staff or extension in self.extensions

    def to_json(self) -> dict[str, object]:
        return {
            "username": self.username,
            "role": self.role,
            "extensions": sorted(self.extensions),
            "via_token": self.via_token,
        }


def principal_of(user: User) -> Principal:
    return Principal(user.username, user.role, user.extensions if user.role == OPERATOR else frozenset())


class RateLimited(Exception):
    def __init__(self, retry_after: float) -> None:
        super().__init__(f"too many failed logins; retry in {retry_after:.0f} s")
        self.retry_after = retry_after


class LoginLimiter:
    """At most ``failures`` failed logins per (username, client address) within ``window`` seconds."""

    def __init__(self, failures: int, window: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.failures = failures
        self.window = window
        self.clock = clock
        self._failed: dict[tuple[str, str], deque[float]] = {}

    def check(self, key: tuple[str, str]) -> None:
        """Raise :class:`RateLimited` while ``key`` is locked out."""
        recent = self._recent(key)
        if recent is not None and len(recent) >= self.failures:
            raise RateLimited(max(1.0, recent[0] + self.window - self.clock()))

    def failed(self, key: tuple[str, str]) -> None:
        recent = self._recent(key)
        if recent is None:
            recent = self._failed[key] = deque()
        recent.append(self.clock())
        if len(self._failed) > 100_000:  # bounded memory under a spray of usernames
            self._prune()

    def succeeded(self, key: tuple[str, str]) -> None:
        self._failed.pop(key, None)

    def _recent(self, key: tuple[str, str]) -> deque[float] | None:
        recent = self._failed.get(key)
        if recent is None:
            return None
        horizon = self.clock() - self.window
        while recent and recent[0] <= horizon:
            recent.popleft()
        if not recent:
            del self._failed[key]
            return None
        return recent

    def _prune(self) -> None:
        for key in list(self._failed):
            self._recent(key)


class Authenticator:
    """Logins, sessions and tokens on top of a :class:`UserStore` (database work runs in threads)."""

    def __init__(self, store: UserStore, settings: GatewaySettings) -> None:
        self.store = store
        self.settings = settings
        self.limiter = LoginLimiter(settings.login_failures, settings.login_window)

    async def login(self, username: str, password: str, client: str) -> tuple[str, Session, User]:
        """A new session for the right password. Raises :class:`RateLimited` while locked out and
        ``HTTPException`` 401 for wrong credentials (counted against the limit)."""
        key = (username.lower(), client)
        self.limiter.check(key)
        user = await asyncio.to_thread(self.store.authenticate, username, password)
        if user is None:
            self.limiter.failed(key)
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, "wrong username or password")
        self.limiter.succeeded(key)
        session_id, session = await asyncio.to_thread(
            self.store.create_session, user.username, self.settings.session_ttl
        )
        return session_id, session, user

    async def logout(self, session_id: str) -> None:
        await asyncio.to_thread(self.store.delete_session, session_id)

    async def from_token(self, token: str) -> Principal | None:
        record = await asyncio.to_thread(self.store.find_token, token)
        if record is None:
            return None
        return Principal(f"token:{record.name}", record.role, record.extensions, via_token=True)

    async def from_session(self, session_id: str) -> tuple[Principal, Session] | None:
        session = await asyncio.to_thread(self.store.find_session, session_id)
        if session is None:
            return None
        user = await asyncio.to_thread(self.store.get_user, session.username)
        if user is None:
            return None
        return principal_of(user), session


def authenticator(connection: HTTPConnection) -> Authenticator:
    found: Authenticator = connection.app.state.authenticator
    return found


def bearer_token(connection: HTTPConnection) -> str | None:
    """The token of ``Authorization: Bearer <token>``; ``""`` for a malformed Authorization header."""
    header = connection.headers.get("authorization")
    if header is None:
        return None
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else ""


def unauthenticated(detail: str = "authentication required") -> HTTPException:
    return HTTPException(status.HTTP_401_UNAUTHORIZED, detail, headers={"WWW-Authenticate": "Bearer"})


async def current_principal(request: Request) -> Principal:
    """FastAPI dependency: the caller by bearer token or session cookie; 401 otherwise, 403 on CSRF."""
    auth = authenticator(request)
    token = bearer_token(request)
    if token is not None:
        principal = await auth.from_token(token) if token else None
        if principal is None:
            raise unauthenticated("invalid API token")
        request.state.principal = principal
        return principal
    session_id = request.cookies.get(SESSION_COOKIE)
    found = await auth.from_session(session_id) if session_id else None
    if found is None:
        raise unauthenticated()
    principal, session = found
    if request.method not in SAFE_METHODS:
        sent = request.headers.get(CSRF_HEADER, "")
        if not hmac.compare_digest(sent.encode(), session.csrf_token.encode()):
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"missing or wrong {CSRF_HEADER} header")
    request.state.principal = principal
    request.state.session = session
    return principal


def require_role(*roles: str) -> Callable[[Request], Awaitable[Principal]]:
    """Dependency factory: the caller (as :func:`current_principal`) if their role is one of ``roles``."""
    allowed = frozenset(roles)

    async def dependency(request: Request) -> Principal:
        principal = await current_principal(request)
        if principal.role not in allowed:
            raise HTTPException(status.HTTP_403_FORBIDDEN, "your role may not do this")
        return principal

    return dependency


def same_origin(connection: HTTPConnection) -> bool:
    """No ``Origin`` (non-browser clients) or one naming this very host (no cross-site WebSocket)."""
    origin = connection.headers.get("origin")
    if origin is None:
        return True
    return urlsplit(origin).netloc.lower() == connection.headers.get("host", "").lower()


async def ws_principal(websocket: WebSocket) -> Principal | None:
    """The caller of a WebSocket handshake (bearer header, or the session cookie from this origin)."""
    auth = authenticator(websocket)
    token = bearer_token(websocket)
    if token is not None:
        return await auth.from_token(token) if token else None
    session_id = websocket.cookies.get(SESSION_COOKIE)
    if not session_id or not same_origin(websocket):
        return None
    found = await auth.from_session(session_id)
    return None if found is None else found[0]
