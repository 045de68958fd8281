"""The JSON API under /api: the same models the pages render, plus approve/reject."""

from __future__ import annotations

from typing import Annotated, Literal

import structlog
from fastapi import APIRouter, Depends, HTTPException, Path, Query, status

from dashboard.deps import ORDER_ID_PATTERN, ApiOwner, HeaderCsrf, View, api_owner
from dashboard.errors import ApprovalError, OrderNotFoundError, ViewUnavailableError
from dashboard.view import (
    Decision,
    MembersView,
    OrderDetail,
    OrderSummary,
    Overview,
    PendingApproval,
    PolicyView,
    SalesSeries,
    SlotView,
    SupplierView,
    Window,
)

log = structlog.get_logger()
router = APIRouter(
    prefix="/api",
    tags=["api"],
    responses={
        401: {"description": "no valid session"},
        503: {"description": "the chain or store cannot be read right now"},
    },
)
OrderId = Annotated[str, Path(pattern=ORDER_ID_PATTERN)]


def _unavailable(exc: ViewUnavailableError) -> HTTPException:
    return HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, str(exc))


@router.get("/status")
def api_status(view: View, _: ApiOwner) -> Overview:
    """Treasury, today's sales, open orders and alerts: what the overview page shows."""
    try:
        return view.overview()
    except ViewUnavailableError as exc:
        raise _unavailable(exc) from None


@router.get("/slots")
def api_slots(view: View, _: ApiOwner) -> list[SlotView]:
    try:
        return view.slots()
    except ViewUnavailableError as exc:
        raise _unavailable(exc) from None


@router.get("/sales")
def api_sales(
    view: View, _: ApiOwner, window: Annotated[Window, Query()] = Window.day
) -> SalesSeries:
    try:
        return view.sales_series(window)
    except ViewUnavailableError as exc:
        raise _unavailable(exc) from None


@router.get("/orders")
def api_orders(view: View, _: ApiOwner) -> list[OrderSummary]:
    try:
        return view.orders()
    except ViewUnavailableError as exc:
        raise _unavailable(exc) from None


@router.get("/orders/{order_id}", responses={404: {"description": "no such order"}})
def api_order(view: View, _: ApiOwner, order_id: OrderId) -> OrderDetail:
    try:
        return view.order(order_id.lower())
    except OrderNotFoundError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
    except ViewUnavailableError as exc:
        raise _unavailable(exc) from None


@router.get("/approvals")
def api_approvals(view: View, _: ApiOwner) -> list[PendingApproval]:
    try:
        return view.pending_approvals()
    except ViewUnavailableError as exc:
        raise _unavailable(exc) from None


@router.post(
    "/orders/{order_id}/{action}",
    dependencies=[Depends(api_owner), HeaderCsrf],
    responses={
        403: {"description": "missing or wrong X-CSRF-Token header"},
        404: {"description": "no such order"},
        409: {"description": "not pending, or the dashboard holds no governor key"},
    },
)
def api_decide(
    view: View, owner: ApiOwner, order_id: OrderId, action: Literal["approve", "reject"]
) -> Decision:
    """Approve or reject a pending order on-chain with the governor key the dashboard holds."""
    try:
        decision = view.decide(order_id.lower(), approve=action == "approve")
    except OrderNotFoundError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
    except ApprovalError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    except ViewUnavailableError as exc:
        raise _unavailable(exc) from None
    log.info("order_decided", owner=owner.name, order=order_id, action=action, tx=decision.tx_hash)
    return decision


@router.get("/policy")
def api_policy(view: View, _: ApiOwner) -> PolicyView:
    try:
        return view.policy()
    except ViewUnavailableError as exc:
        raise _unavailable(exc) from None


@router.get("/suppliers")
def api_suppliers(view: View, _: ApiOwner) -> list[SupplierView]:
    try:
        return view.suppliers()
    except ViewUnavailableError as exc:
        raise _unavailable(exc) from None


@router.get("/members")
def api_members(view: View, _: ApiOwner) -> MembersView:
    try:
        return view.members()
    except ViewUnavailableError as exc:
        raise _unavailable(exc) from None
