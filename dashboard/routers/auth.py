"""Log in with password and TOTP code; log out everywhere."""

from __future__ import annotations

from typing import Annotated

import structlog
from fastapi import APIRouter, Depends, Form, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from dashboard.auth import end_sessions, verify_login
from dashboard.deps import FormCsrf, MaybeOwner, PageOwner, State, csrf_token, page_owner
from dashboard.errors import LoginLockedError, LoginRefusedError
from dashboard.security import DEVICE_COOKIE, DEVICE_MAX_AGE_S, new_csrf_token

router = APIRouter(tags=["auth"], include_in_schema=False)
log = structlog.get_logger()


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _login_page(
    request: Request, state: State, *, error: str | None = None, code: int = 200
) -> Response:
    return state.templates.TemplateResponse(
        request,
        "login.html",
        {"error": error, "csrf": csrf_token(request)},
        status_code=code,
    )


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, state: State, owner: MaybeOwner) -> Response:
    if owner is not None:
        return RedirectResponse("/", status.HTTP_303_SEE_OTHER)
    return _login_page(request, state)


@router.post("/login", response_class=HTMLResponse, dependencies=[FormCsrf])
def login(
    request: Request,
    state: State,
    name: Annotated[str, Form(min_length=1, max_length=64)],
    password: Annotated[str, Form(min_length=1, max_length=1024)],
    code: Annotated[str, Form(min_length=1, max_length=16)],
) -> Response:
    """Reserve the attempt (bounded per key), then check password and code.

    A browser with this owner's device cookie is counted on its own; any other on
    the owner name and its address.
    """
    device = state.devices.key(request.cookies.get(DEVICE_COOKIE), name)
    keys = (device,) if device is not None else (f"owner:{name}", f"ip:{_client(request)}")
    try:
        state.throttle.reserve(*keys)
    except LoginLockedError as exc:
        log.warning("login_locked_out", client=_client(request), known_device=device is not None)
        response = _login_page(request, state, error=str(exc), code=429)
        response.headers["Retry-After"] = str(exc.retry_after)
        return response
    try:
        owner = verify_login(state.engine, name, password, code.strip())
    except LoginRefusedError:
        log.warning("login_failed", client=_client(request), known_device=device is not None)
        return _login_page(
            request, state, error="Wrong name, password or code.", code=status.HTTP_401_UNAUTHORIZED
        )
    state.throttle.success(*keys)
    request.session.clear()  # no session fixation: a fresh session and CSRF token
    request.session.update(
        {"owner_id": owner.owner_id, "epoch": owner.session_epoch, "csrf": new_csrf_token()}
    )
    log.info("login", owner=owner.name, client=_client(request))
    response = RedirectResponse("/", status.HTTP_303_SEE_OTHER)
    response.set_cookie(
        DEVICE_COOKIE,
        state.devices.issue(owner.name),
        max_age=DEVICE_MAX_AGE_S,
        path="/login",
        httponly=True,
        samesite="strict",
        secure=state.tls,
    )
    return response


@router.post("/logout", dependencies=[Depends(page_owner), FormCsrf])
def logout(request: Request, state: State, owner: PageOwner) -> Response:
    end_sessions(state.engine, owner.owner_id)
    request.session.clear()
    log.info("logout", owner=owner.name)
    return RedirectResponse("/login", status.HTTP_303_SEE_OTHER)
