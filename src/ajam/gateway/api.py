"""The REST API under ``/api`` (JSON). Every route needs a principal unless marked public; operators
see and act only for their extensions (403 otherwise).

Responses never carry PBX secrets: health says only whether the PBX is connected, errors are ajam's own
messages (which never contain secrets), and the admin action's reply is redacted (:func:`redact_reply`).

Routes that need the PBX (live calls, queue board, dial, SMS, admin action) go through
:class:`~ajam.gateway.pbx_access.PbxAccess` (``app.state.pbx``): on this process's link, or — on a
follower of the Redis bus — forwarded to the leader that holds the PBX connection.
"""

from __future__ import annotations

import asyncio
import io
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response, status
from fastapi.responses import FileResponse, JSONResponse
from pydantic import BaseModel, Field

import ajam
from ajam.calls.journal import AsyncJournal
from ajam.calls.model import Call
from ajam.gateway.auth import (
    SESSION_COOKIE,
    Authenticator,
    Principal,
    RateLimited,
    current_principal,
    principal_of,
    require_role,
)
from ajam.gateway.dials import check_number
from ajam.gateway.link import PbxLink, call_extensions
from ajam.gateway.pbx_access import PbxAccess, PbxRefused, redact_reply
from ajam.gateway.users import ADMIN, OPERATOR, SUPERVISOR, UserExists, UserStore

router = APIRouter(prefix="/api")

Authenticated = Annotated[Principal, Depends(current_principal)]
Staff = Annotated[Principal, Depends(require_role(ADMIN, SUPERVISOR))]
Admin = Annotated[Principal, Depends(require_role(ADMIN))]

MAX_PAGE = 500
REFUSED_ACTIONS = frozenset({"login", "logoff", "challenge"})  # would break or re-login the shared link

__all__ = ["recording_file", "redact_reply", "router"]


# ---------------------------------------------------------------------------------------------- models
class LoginBody(BaseModel):
    username: str = Field(max_length=64)
    password: str = Field(max_length=1024)


class DialBody(BaseModel):
    to: str = Field(max_length=64)
    from_extension: str | None = Field(default=None, max_length=32)


class SmsBody(BaseModel):
    to: str = Field(max_length=128)
    body: str = Field(max_length=4000)


class ActionBody(BaseModel):
    action: str = Field(max_length=128)
    headers: dict[str, str | list[str]] = Field(default_factory=dict)


class UserBody(BaseModel):
    username: str = Field(max_length=64)
    password: str = Field(max_length=1024)
    role: str
    extensions: list[str] = Field(default_factory=list)


class TokenBody(BaseModel):
    name: str = Field(max_length=64)
    role: str
    extensions: list[str] = Field(default_factory=list)


# ---------------------------------------------------------------------------------------------- state
def link_of(request: Request) -> PbxLink:
    link: PbxLink = request.app.state.link
    return link


def pbx_of(request: Request) -> PbxAccess:
    pbx: PbxAccess = request.app.state.pbx
    return pbx


def refused(error: PbxRefused) -> HTTPException:
    return HTTPException(error.status, error.detail)


def journal_of(request: Request) -> AsyncJournal:
    journal: AsyncJournal | None = request.app.state.journal
    if journal is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "no call journal configured")
    return journal


def store_of(request: Request) -> UserStore:
    store: UserStore = request.app.state.store
    return store


def client_address(request: Request) -> str:
    return request.client.host if request.client is not None else "unknown"


# ---------------------------------------------------------------------------------------------- session
@router.post("/login")
async def login(body: LoginBody, request: Request, response: Response) -> dict[str, object]:
    """Public. Wrong credentials → 401; too many failures for this username from this address → 429."""
    auth: Authenticator = request.app.state.authenticator
    try:
        session_id, session, user = await auth.login(body.username, body.password, client_address(request))
    except RateLimited as limited:
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            "too many failed logins; try again later",
            headers={"Retry-After": str(int(limited.retry_after + 0.999))},
        ) from None
    response.set_cookie(
        SESSION_COOKIE,
        session_id,
        max_age=int(auth.settings.session_ttl),
        httponly=True,
        samesite="strict",
        secure=auth.settings.secure_cookies or request.url.scheme == "https",
        path="/",
    )
    return {**user.to_json(), "csrf_token": session.csrf_token}


@router.post("/logout")
async def logout(principal: Authenticated, request: Request, response: Response) -> dict[str, object]:
    session_id = request.cookies.get(SESSION_COOKIE)
    if session_id and not principal.via_token:
        auth: Authenticator = request.app.state.authenticator
        await auth.logout(session_id)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
    return {"ok": True}


@router.get("/me")
async def me(principal: Authenticated, request: Request) -> dict[str, object]:
    session = getattr(request.state, "session", None)
    found = principal.to_json()
    found["csrf_token"] = session.csrf_token if session is not None else None
    found["contact_url"] = link_of(request).settings.contact_url
    return found


@router.get("/health")
async def health(request: Request) -> dict[str, object]:
    """Public: whether the gateway runs and the PBX is connected. Nothing about the PBX's address."""
    return {"status": "ok", "pbx": pbx_of(request).state, "version": ajam.__version__}


# ---------------------------------------------------------------------------------------------- calls
@router.get("/calls/live")
async def live_calls(principal: Authenticated, request: Request) -> dict[str, object]:
    try:
        calls = await pbx_of(request).live_calls(principal)
    except PbxRefused as error:
        raise refused(error) from None
    return {"items": calls}


def parse_moment(text: str | None, name: str) -> float | None:
    """POSIX seconds or ISO 8601 (a date, or a time with or without zone; without one: UTC)."""
    if text is None or text == "":
        return None
    try:
        return float(text)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text)  # Python 3.11 reads a trailing Z too
    except ValueError:
        raise HTTPException(422, f"{name}: expected ISO 8601 or POSIX seconds") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


class JournalQuery:
    """The journal filters of the query string (as ``ajam journal``), scoped to the principal."""

    def __init__(
        self,
        number: Annotated[str | None, Query(max_length=64)] = None,
        extension: Annotated[str | None, Query(max_length=32)] = None,
        since: Annotated[str | None, Query(description="ISO 8601 or POSIX seconds")] = None,
        until: Annotated[str | None, Query(description="ISO 8601 or POSIX seconds")] = None,
        outcome: Annotated[list[str] | None, Query()] = None,
        missed: bool = False,
        direction: str | None = None,
        limit: Annotated[int, Query(ge=0, le=MAX_PAGE)] = 50,
        offset: Annotated[int, Query(ge=0)] = 0,
    ) -> None:
        self.filters: dict[str, Any] = {
            "number": number or None,
            "extension": extension or None,
            "since": parse_moment(since, "since"),
            "until": parse_moment(until, "until"),
            "outcome": outcome or None,
            "missed": missed,
            "direction": direction or None,
        }
        self.limit = limit
        self.offset = offset

    def extensions_for(self, principal: Principal) -> Sequence[str | None]:
        """The extension filters to run: the asked one, or (operators) each of theirs."""
        asked: str | None = self.filters["extension"]
        if principal.is_staff:
            return [asked]
        if asked is not None:
            if asked not in principal.extensions:
                raise HTTPException(status.HTTP_403_FORBIDDEN, "not one of your extensions")
            return [asked]
        return sorted(principal.extensions)


async def scoped_journal(
    journal: AsyncJournal, query: JournalQuery, principal: Principal
) -> tuple[list[Call], int]:
    """A page of calls and the total; for an operator with several extensions, the union of theirs."""
    extensions = query.extensions_for(principal)
    filters = dict(query.filters)
    try:
        if len(extensions) == 1:
            filters["extension"] = extensions[0]
            items, total = await asyncio.gather(
                journal.query(**filters, limit=query.limit, offset=query.offset), journal.count(**filters)
            )
            return items, total
        return await _union(journal, filters, extensions, query.limit, query.offset)
    except ValueError as error:  # unknown outcome or direction
        raise HTTPException(422, str(error)) from None


async def _union(
    journal: AsyncJournal, filters: dict[str, Any], extensions: Sequence[str | None], limit: int, offset: int
) -> tuple[list[Call], int]:
    """Merge per-extension pages (newest first, each call once). The total counts a call shared by two
    of the operator's extensions once per extension: an upper bound."""
    pages = await asyncio.gather(
        *(journal.query(**{**filters, "extension": ext}, limit=offset + limit) for ext in extensions)
    )
    counts = await asyncio.gather(*(journal.count(**{**filters, "extension": ext}) for ext in extensions))
    merged: dict[str, Call] = {}
    for page in pages:
        for call in page:
            merged.setdefault(call.id, call)
    ordered = sorted(merged.values(), key=lambda call: (_occurred(call), call.id), reverse=True)
    return ordered[offset : offset + limit], sum(counts)


def _occurred(call: Call) -> float:
    for moment in (call.started_at, call.ringing_at, call.answered_at, call.ended_at):
        if moment is not None:
            return moment
    return 0.0


@router.get("/journal")
async def journal_page(
    principal: Authenticated, request: Request, query: Annotated[JournalQuery, Depends()]
) -> dict[str, object]:
    items, total = await scoped_journal(journal_of(request), query, principal)
    return {
        "items": [call.to_json() for call in items],
        "total": total,
        "limit": query.limit,
        "offset": query.offset,
    }


@router.get("/journal/missed")
async def missed_calls(
    principal: Authenticated, request: Request, query: Annotated[JournalQuery, Depends()]
) -> dict[str, object]:
    query.filters["missed"] = True
    return await journal_page(principal, request, query)


@router.get("/journal.csv")
async def journal_csv(
    principal: Staff, request: Request, query: Annotated[JournalQuery, Depends()]
) -> Response:
    """The calls as CSV (all matches unless ``limit`` is given explicitly)."""
    out = io.StringIO()
    filters = dict(query.filters)
    if "limit" in request.query_params:
        filters.update(limit=query.limit, offset=query.offset)
    try:
        await journal_of(request).export_csv(out, **filters)
    except ValueError as error:
        raise HTTPException(422, str(error)) from None
    return Response(
        out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="calls.csv"'},
    )


# ---------------------------------------------------------------------------------------------- dial
@router.post("/dial", status_code=status.HTTP_202_ACCEPTED)
async def dial(body: DialBody, principal: Authenticated, request: Request) -> dict[str, object]:
    """Ring ``from_extension`` (an operator's own; default: their only one), then dial ``to``."""
    extension = body.from_extension
    if extension is None:
        if principal.role != OPERATOR or len(principal.extensions) != 1:
            raise HTTPException(422, "from_extension is required")
        (extension,) = principal.extensions
    if not principal.may_use_extension(extension):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "you may only dial from your own extension")
    try:
        number = check_number(body.to)
        if not re.fullmatch(r"[A-Za-z0-9_*#+-]{1,32}", extension):
            raise ValueError("not an extension")
    except ValueError as error:
        raise HTTPException(422, str(error)) from None
    try:
        job = await pbx_of(request).dial(principal.username, extension, number)
    except PbxRefused as error:
        raise refused(error) from None
    return {"id": job["id"], "state": job["state"]}


@router.get("/dial/{job_id}")
async def dial_result(job_id: str, principal: Authenticated, request: Request) -> dict[str, object]:
    try:
        job = await pbx_of(request).dial_result(job_id)
    except PbxRefused as error:
        raise refused(error) from None
    if job is None or not principal.sees([str(job["from_extension"])]):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such click-to-call")
    return job


# ---------------------------------------------------------------------------------------------- queues
@router.get("/queues")
async def queues(principal: Staff, request: Request) -> dict[str, object]:
    """The live board (queues, waiting callers, agents) with the journal's figures of the last day and
    the calls per hour (``hourly``: oldest first)."""
    try:
        board, now = await pbx_of(request).board()
    except PbxRefused as error:
        raise refused(error) from None
    since = now - link_of(request).settings.stats_period
    journal: AsyncJournal | None = request.app.state.journal
    if journal is not None:
        stats = await journal.stats(since=since, until=now)
        board["stats"] = [entry.to_json() for entry in stats]
        board["period"] = {"since": _iso(since), "until": _iso(now)}
        board["hourly"] = await _hourly(journal, now)
    return board


def _iso(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).isoformat(timespec="seconds")


async def _hourly(journal: AsyncJournal, now: float, hours: int = 24) -> list[dict[str, object]]:
    """Calls per hour over the last ``hours`` hours: total, answered, missed."""
    first = (int(now) // 3600 - hours + 1) * 3600
    buckets = [{"hour": _iso(first + 3600 * i), "calls": 0, "answered": 0, "missed": 0} for i in range(hours)]
    missed_ids = {call.id for call in await journal.query(since=first, missed=True, limit=20_000)}
    for call in await journal.query(since=first, limit=20_000):
        index = int((_occurred(call) - first) // 3600)
        if 0 <= index < hours:
            bucket = buckets[index]
            bucket["calls"] = int(str(bucket["calls"])) + 1
            if call.answered_at is not None:
                bucket["answered"] = int(str(bucket["answered"])) + 1
            if call.id in missed_ids:
                bucket["missed"] = int(str(bucket["missed"])) + 1
    return buckets


# ---------------------------------------------------------------------------------------------- sms
@router.post("/sms")
async def sms(body: SmsBody, principal: Authenticated, request: Request) -> JSONResponse:
    try:
        message = await pbx_of(request).sms(body.to, body.body)
    except PbxRefused as error:
        if error.status == status.HTTP_503_SERVICE_UNAVAILABLE:
            raise refused(error) from None
        return JSONResponse({"ok": False, "message": error.detail}, status_code=error.status)
    return JSONResponse({"ok": True, "message": message})


# ---------------------------------------------------------------------------------------------- recordings
def recording_file(root: Path, recording: str) -> Path | None:
    """The file of ``recording`` (the PBX's path) under ``root``: the longest trailing part of the path
    that names a file inside ``root`` (the PBX's monitor folder is usually mounted elsewhere).
    Anything that resolves outside ``root`` (``..``, symbolic links) is refused."""
    base = root.resolve()
    parts = [part for part in Path(recording).parts if part not in ("/", "")]
    if ".." in parts:
        return None
    for start in range(len(parts)):
        candidate = base.joinpath(*parts[start:]).resolve()
        if candidate.is_relative_to(base) and candidate.is_file():
            return candidate
    return None


@router.get("/recordings/{call_id}")
async def recording(call_id: str, principal: Authenticated, request: Request) -> FileResponse:
    root: Path | None = link_of(request).settings.recordings_dir
    journal = journal_of(request)
    call = await journal.get(call_id)
    if call is None or not principal.sees(call_extensions(call)):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such call")
    found = recording_file(root, call.recording) if root is not None and call.recording else None
    if found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no recording reachable for this call")
    media = "audio/wav" if found.suffix.lower() in (".wav", ".wav49") else "application/octet-stream"
    return FileResponse(found, media_type=media, filename=found.name)


# ---------------------------------------------------------------------------------------------- admin
@router.post("/admin/action")
async def admin_action(body: ActionBody, principal: Admin, request: Request) -> dict[str, object]:
    """Any manager action through the gateway's connection (not Login/Logoff/Challenge)."""
    if body.action.lower() in REFUSED_ACTIONS or not re.fullmatch(r"[A-Za-z0-9_]+", body.action):
        raise HTTPException(400, f"the action {body.action[:40]!r} is not allowed here")
    pairs: list[tuple[str, str]] = []
    for key, value in body.headers.items():
        for item in value if isinstance(value, list) else [value]:
            pairs.append((key, item))
    try:
        return await pbx_of(request).action(body.action, pairs)
    except PbxRefused as error:
        raise refused(error) from None


@router.get("/admin/users")
async def list_users(principal: Admin, request: Request) -> dict[str, object]:
    users = await asyncio.to_thread(store_of(request).list_users)
    return {"items": [user.to_json() for user in users]}


@router.post("/admin/users", status_code=status.HTTP_201_CREATED)
async def add_user(body: UserBody, principal: Admin, request: Request) -> dict[str, object]:
    store = store_of(request)
    try:
        user = await asyncio.to_thread(
            store.add_user, body.username, body.password, body.role, body.extensions
        )
    except UserExists as error:
        raise HTTPException(status.HTTP_409_CONFLICT, str(error)) from None
    except ValueError as error:
        raise HTTPException(422, str(error)) from None
    return principal_of(user).to_json() | {"via_token": False}


@router.delete("/admin/users/{username}")
async def delete_user(username: str, principal: Admin, request: Request) -> dict[str, object]:
    if username == principal.username:
        raise HTTPException(400, "you cannot delete yourself")
    if not await asyncio.to_thread(store_of(request).delete_user, username):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such user")
    return {"ok": True}


@router.get("/admin/tokens")
async def list_tokens(principal: Admin, request: Request) -> dict[str, object]:
    tokens = await asyncio.to_thread(store_of(request).list_tokens)
    return {"items": [token.to_json() for token in tokens]}


@router.post("/admin/tokens", status_code=status.HTTP_201_CREATED)
async def create_token(body: TokenBody, principal: Admin, request: Request) -> dict[str, object]:
    """A new API token: shown once in this answer, stored only as a hash."""
    store = store_of(request)
    try:
        token, record = await asyncio.to_thread(store.create_token, body.name, body.role, body.extensions)
    except UserExists as error:
        raise HTTPException(status.HTTP_409_CONFLICT, str(error)) from None
    except ValueError as error:
        raise HTTPException(422, str(error)) from None
    return {"token": token, **record.to_json()}


@router.delete("/admin/tokens/{name}")
async def delete_token(name: str, principal: Admin, request: Request) -> dict[str, object]:
    if not await asyncio.to_thread(store_of(request).delete_token, name):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such token")
    return {"ok": True}


def journal_error(_request: Request, error: Exception) -> JSONResponse:
    return JSONResponse({"detail": str(error)}, status_code=status.HTTP_503_SERVICE_UNAVAILABLE)
