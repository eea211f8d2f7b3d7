"""The web wallet's JSON endpoints, under ``/wallet/api`` (outside the API's OpenAPI document:
they serve this node's own pages, with cookies; ``/api/v1`` stays stateless).

Every POST passes ``session.csrf_check`` first (403 ``csrf_failed``); bodies are JSON of at most
``wallet_body_bytes_max`` bytes (413 ``too_large``), else 400 ``malformed``. Errors are
``{"error": {"code", "detail", "field"?}}``; a field error's ``code`` is the message key of
``lien.members.MESSAGES`` and its ``detail`` the French message. A refused request writes
nothing. The service (``lien.members``) does the work; database calls run in the thread pool.

    GET  /wallet/api/csrf               {csrf} and the pre-session cookie ``lien_csrf``
    POST /wallet/api/kdf                {email} -> {kdf}   (unknown e-mail: stable fake salt)
    POST /wallet/api/signup             -> {status: "pending"}   (docs/protocol.md §16)
    POST /wallet/api/login              {email, login_secret} -> {account, public_key, backup,
                                        kdf, csrf} + the session cookie; 401 ``login_failed``
    POST /wallet/api/logout             ends this session
    POST /wallet/api/logout-everywhere  ends every session of the member
    POST /wallet/api/password           {old_login_secret, login_secret, kdf, backup}
    GET  /wallet/api/me                 {account, public_key, kind, email, profile, csrf, backup,
                                        kdf} (the backup and its KDF: for a password change)
    GET  /wallet/api/directory          ?q=&category=&town= -> [{account, trading_name, ...}]
    GET  /wallet/api/names              ?accounts=A,B -> {A: name}
    GET  /wallet/api/contacts           {contacts: [{account, label}]}
    POST /wallet/api/contacts           {account, label}
    POST /wallet/api/contacts/remove    {account}
    GET  /wallet/api/notifications      {notifications: [...]} (?unread=1)
    POST /wallet/api/notifications/read {ids?: [...]} (all when absent)
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from starlette.concurrency import run_in_threadpool

from ..ledger import TxError, is_account_id, parse_tx
from ..members import FieldError, Members, check_opening, signup_form
from ..node.node import NodeBusy
from ..store import Profile
from .context import ApiContext, Ctx
from .errors import ApiError, NotFound
from .ratelimit import client_address
from .responses import json_response, read_body
from .session import (
    ApiMember,
    MemberSession,
    clear_session_cookie,
    csrf_check,
    ensure_csrf_cookie,
    set_session_cookie,
)

PREFIX = "/wallet/api"
#: the largest body of a wallet request (a sign-up: its envelope, ~1 KB, and a profile)
wallet_body_bytes_max = 16_384

router = APIRouter(prefix=PREFIX, include_in_schema=False, dependencies=[Depends(csrf_check)])


class OpeningRefused(ApiError):
    """The ledger refused the sign-up's ``open_account``: its reason code, field ``open_tx``."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail, field="open_tx")
        self.code = code


def _members(ctx: ApiContext) -> Members:
    if ctx.members is None:
        raise NotFound("this node keeps no members' data")
    return ctx.members


async def _json(request: Request) -> Any:
    data = await read_body(request, wallet_body_bytes_max)
    try:
        return json.loads(data)
    except ValueError:
        raise FieldError("", "malformed") from None


async def _object(request: Request) -> dict[str, Any]:
    data = await _json(request)
    if not isinstance(data, dict):
        raise FieldError("", "malformed")
    return data


def _profile_json(p: Profile | None) -> dict[str, Any]:
    if p is None:
        return {}
    data: dict[str, Any] = {"name": p.name}
    if p.trading_name is not None:
        data.update(trading_name=p.trading_name, siret=p.siret, category=p.category,
                    town=p.town, address=p.address, description=p.description,
                    directory=p.directory)
    return data


def _currency(ctx: ApiContext) -> str:
    currencies = ctx.node.summary.currencies
    if not currencies:
        raise NodeBusy("the node is still loading its state")
    return currencies[0].code


# -- before login ------------------------------------------------------------------------------
@router.get("/csrf")
async def csrf_token(request: Request) -> Response:
    response = json_response({})
    token = ensure_csrf_cookie(request, response)
    response.body = json.dumps({"csrf": token}).encode()
    response.headers["content-length"] = str(len(response.body))
    return response


@router.post("/kdf")
async def kdf(ctx: Ctx, request: Request) -> Response:
    members = _members(ctx)
    data = await _object(request)
    params = await run_in_threadpool(members.kdf_for, data.get("email"))
    return json_response({"kdf": params})


@router.post("/signup")
async def signup(ctx: Ctx, request: Request) -> Response:
    """Check the form and the browser-signed opening against it, reserve the e-mail, open the
    account on chain (``wait=executed``), then keep the member's rows; an e-mail already used
    gets the same answer (and its owner a mail)."""
    members = _members(ctx)
    address = client_address(request)
    form = signup_form(await _json(request))
    try:
        tx = parse_tx(form.open_tx)
    except TxError:
        raise FieldError("open_tx", "open_tx_invalid") from None
    check_opening(tx, form, _currency(ctx))
    members.count_signup(address)
    login = await run_in_threadpool(members.begin_signup, form)
    if login is None:  # the e-mail has an account: answered as any sign-up
        return json_response({"status": "pending"})
    try:
        status = await ctx.admission.submit(tx, "executed", address)
    except TxError as exc:
        await run_in_threadpool(members.abandon_signup, login)
        raise OpeningRefused(exc.reason.value, exc.detail) from None
    except BaseException:
        await run_in_threadpool(members.abandon_signup, login)
        raise
    if status.result is not None and status.result.get("code") != "ok":
        await run_in_threadpool(members.abandon_signup, login)
        code = str(status.result.get("code"))
        raise OpeningRefused(code, f"the ledger refused the opening: {code}")
    # executed, or accepted by the log (the wait ran out): it executes in a next block
    await run_in_threadpool(members.finish_signup, login)
    return json_response({"status": "pending"})


@router.post("/login")
async def login(ctx: Ctx, request: Request) -> Response:
    members = _members(ctx)
    data = await _object(request)
    opened = await run_in_threadpool(members.login, data.get("email"),
                                     data.get("login_secret"), client_address(request))
    found = opened.login
    response = json_response({"account": found.account, "public_key": found.public_key,
                              "backup": found.backup, "kdf": found.kdf,
                              "csrf": opened.session.csrf})
    max_age_s = members.settings.session_absolute_ms // 1000
    set_session_cookie(request, response, opened.token, max_age_s)
    return response


@router.post("/logout")
async def logout(ctx: Ctx, request: Request, session: MemberSession) -> Response:
    if session is not None:
        await run_in_threadpool(_members(ctx).logout, session)
    response = json_response({"status": "logged_out"})
    clear_session_cookie(request, response)
    return response


@router.post("/logout-everywhere")
async def logout_everywhere(ctx: Ctx, request: Request, session: ApiMember) -> Response:
    ended = await run_in_threadpool(_members(ctx).logout_everywhere, session.account)
    response = json_response({"status": "logged_out", "sessions_ended": ended})
    clear_session_cookie(request, response)
    return response


# -- the member --------------------------------------------------------------------------------
@router.post("/password")
async def password(ctx: Ctx, request: Request, session: ApiMember) -> Response:
    data = await _object(request)
    ended = await run_in_threadpool(
        _members(ctx).change_password, session, data.get("old_login_secret"),
        data.get("login_secret"), data.get("kdf"), data.get("backup"))
    return json_response({"status": "changed", "sessions_ended": ended})


@router.get("/me")
def me(ctx: Ctx, session: ApiMember) -> Response:
    member = _members(ctx).member(session.account)
    if member is None:
        raise NotFound("no such member")
    login = member.login
    return json_response({"account": login.account, "public_key": login.public_key,
                          "kind": login.kind, "email": login.email,
                          "profile": _profile_json(member.profile), "csrf": session.csrf,
                          "backup": login.backup, "kdf": login.kdf},
                         headers={"Cache-Control": "no-store"})


@router.get("/directory")
def directory(ctx: Ctx, q: str = "", category: str = "", town: str = "") -> Response:
    entries = _members(ctx).directory(q[:100], category[:32], town[:100])
    return json_response([{"account": p.account, "trading_name": p.trading_name or p.name,
                           "category": p.category, "town": p.town,
                           "description": p.description} for p in entries])


@router.get("/names")
def names(ctx: Ctx, session: ApiMember, accounts: str = "") -> Response:
    members = _members(ctx)
    wanted = [a for a in accounts[:2000].split(",") if is_account_id(a)]
    return json_response(members.names(session.account, wanted[:members.settings.names_max]))


@router.get("/contacts")
def contacts(ctx: Ctx, session: ApiMember) -> Response:
    return json_response({"contacts": [{"account": c.contact, "label": c.label}
                                       for c in _members(ctx).contacts(session.account)]})


@router.post("/contacts")
async def save_contact(ctx: Ctx, request: Request, session: ApiMember) -> Response:
    data = await _object(request)
    saved = await run_in_threadpool(_members(ctx).save_contact, session.account,
                                    data.get("account"), data.get("label"))
    return json_response({"account": saved.contact, "label": saved.label})


@router.post("/contacts/remove")
async def remove_contact(ctx: Ctx, request: Request, session: ApiMember) -> Response:
    data = await _object(request)
    removed = await run_in_threadpool(_members(ctx).remove_contact, session.account,
                                      data.get("account"))
    return json_response({"removed": removed})


@router.get("/notifications")
def notifications(ctx: Ctx, session: ApiMember, unread: bool = False) -> Response:
    notes = _members(ctx).notifications(session.account, unread)
    return json_response({"notifications": [
        {"id": n.id, "kind": n.kind, "body": n.body, "created_ms": n.created_ms,
         "read": n.read} for n in notes]})


@router.post("/notifications/read")
async def notifications_read(ctx: Ctx, request: Request, session: ApiMember) -> Response:
    data = await _object(request)
    ids = data.get("ids")
    if ids is not None and (not isinstance(ids, list) or len(ids) > 1000 or not all(
            isinstance(i, int) and not isinstance(i, bool) for i in ids)):
        raise FieldError("ids", "malformed")
    marked = await run_in_threadpool(_members(ctx).mark_read, session.account, ids)
    return json_response({"marked": marked})


__all__ = ["PREFIX", "router", "wallet_body_bytes_max"]
