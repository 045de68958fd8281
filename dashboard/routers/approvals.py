"""Approve or reject a pending order from the approvals page (form + CSRF)."""

from __future__ import annotations

from typing import Annotated, Literal

import structlog
from fastapi import APIRouter, Depends, HTTPException, Path, Request, status
from fastapi.responses import RedirectResponse, Response

from dashboard.deps import ORDER_ID_PATTERN, FormCsrf, PageOwner, State, page_owner
from dashboard.errors import ApprovalError, OrderNotFoundError, ViewUnavailableError

router = APIRouter(tags=["approvals"], include_in_schema=False)
log = structlog.get_logger()
_DONE = {"approve": "approved", "reject": "rejected"}


@router.post("/approvals/{order_id}/{action}", dependencies=[Depends(page_owner), FormCsrf])
def decide(
    request: Request,
    state: State,
    owner: PageOwner,
    order_id: Annotated[str, Path(pattern=ORDER_ID_PATTERN)],
    action: Literal["approve", "reject"],
) -> Response:
    try:
        decision = state.view.decide(order_id.lower(), approve=action == "approve")
    except OrderNotFoundError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
    except ApprovalError as exc:
        request.session["flash"] = f"Not done: {exc}"
        return RedirectResponse("/approvals", status.HTTP_303_SEE_OTHER)
    except ViewUnavailableError as exc:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, str(exc)) from None
    log.info("order_decided", owner=owner.name, order=order_id, action=action, tx=decision.tx_hash)
    request.session["flash"] = (
        f"Order {order_id[:10]}…: {_DONE[action]} in transaction {decision.tx_hash}; "
        f"now {decision.state}."
    )
    return RedirectResponse("/approvals", status.HTTP_303_SEE_OTHER)
