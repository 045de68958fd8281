"""Annotated dependencies every router shares: the app state, the owner, the CSRF check."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Form, Header, HTTPException, Request, status
from fastapi.templating import Jinja2Templates
from sqlalchemy import Engine

from dashboard.auth import AuthenticatedOwner, LoginThrottle, current_owner
from dashboard.security import CSRF_HEADER, DeviceCookies, new_csrf_token, secret_matches
from dashboard.view import MachineView
from device.settings import Settings

ORDER_ID_PATTERN = r"^0x[0-9a-fA-F]{64}$"


@dataclass(frozen=True, slots=True)
class DashboardState:
    """What ``create_app`` wires together; reached through ``request.app.state.dashboard``."""

    settings: Settings
    view: MachineView
    engine: Engine
    throttle: LoginThrottle
    templates: Jinja2Templates
    devices: DeviceCookies
    tls: bool
    pages: frozenset[str]  # the pages that apply to this machine (dashboard.routers.pages)


class LoginRequired(Exception):  # noqa: N818 - a control-flow signal, not an error
    """A page was asked for without a valid session; answered with a redirect to /login."""


def get_state(request: Request) -> DashboardState:
    state: DashboardState = request.app.state.dashboard
    return state


State = Annotated[DashboardState, Depends(get_state)]


def get_view(state: State) -> MachineView:
    return state.view


View = Annotated[MachineView, Depends(get_view)]


def session_owner(request: Request, state: State) -> AuthenticatedOwner | None:
    owner_id = request.session.get("owner_id")
    epoch = request.session.get("epoch")
    if not isinstance(owner_id, int) or not isinstance(epoch, int):
        return None
    owner = current_owner(state.engine, owner_id, epoch)
    if owner is None:
        request.session.clear()
    return owner


MaybeOwner = Annotated[AuthenticatedOwner | None, Depends(session_owner)]


def page_owner(owner: MaybeOwner) -> AuthenticatedOwner:
    """Pages send a visitor without a session to the login form."""
    if owner is None:
        raise LoginRequired()
    return owner


def api_owner(owner: MaybeOwner) -> AuthenticatedOwner:
    """The API and live fragments answer 401; the poller then goes to the login form."""
    if owner is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "log in first")
    return owner


PageOwner = Annotated[AuthenticatedOwner, Depends(page_owner)]
ApiOwner = Annotated[AuthenticatedOwner, Depends(api_owner)]


def csrf_token(request: Request) -> str:
    """The session's CSRF token, created on first use (also before login, for the form)."""
    token = request.session.get("csrf")
    if not isinstance(token, str) or not token:
        token = new_csrf_token()
        request.session["csrf"] = token
    return token


def check_form_csrf(
    request: Request, csrf_token: Annotated[str | None, Form(max_length=128)] = None
) -> None:
    if not secret_matches(request.session.get("csrf"), csrf_token):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "missing or wrong CSRF token")


def check_header_csrf(
    request: Request,
    x_csrf_token: Annotated[str | None, Header(alias=CSRF_HEADER, max_length=128)] = None,
) -> None:
    if not secret_matches(request.session.get("csrf"), x_csrf_token):
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"missing or wrong {CSRF_HEADER} header")


FormCsrf = Depends(check_form_csrf)
HeaderCsrf = Depends(check_header_csrf)
