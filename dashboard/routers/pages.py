"""Server-rendered pages; each has a fragment at /fragments/<name> that live.js re-polls."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query, Request, status
from fastapi.responses import HTMLResponse, Response
from markupsafe import Markup

from dashboard.auth import AuthenticatedOwner
from dashboard.charts import bar_chart
from dashboard.deps import ORDER_ID_PATTERN, ApiOwner, PageOwner, State, csrf_token
from dashboard.errors import OrderNotFoundError, ViewUnavailableError
from dashboard.formatting import CURRENCY, money, short_hex, short_id
from dashboard.story import story
from dashboard.view import MachineView, Window

router = APIRouter(tags=["pages"], include_in_schema=False)

WindowQuery = Annotated[Window, Query()]
Builder = Callable[[MachineView, Window, int], dict[str, Any]]


def _overview(view: MachineView, window: Window, decimals: int) -> dict[str, Any]:
    return {"o": view.overview(), "r": view.rides()}


def _stock(view: MachineView, window: Window, decimals: int) -> dict[str, Any]:
    return {"slots": view.slots(), "pricing": view.pricing()}


def _sales(view: MachineView, window: Window, decimals: int) -> dict[str, Any]:
    series = view.sales_series(window)
    fmt = "%H:%M" if window is Window.day else "%m-%d"

    def label(ts: int) -> str:
        return datetime.fromtimestamp(ts, UTC).strftime(fmt)

    def show(v: int) -> str:
        return money(v, decimals)

    x_label = "hour of the day (UTC)" if window is Window.day else "day (UTC, month-day)"

    def chart(title: str, values: list[int]) -> Markup:
        points = [(label(b.start), v) for b, v in zip(series.buckets, values, strict=True)]
        return bar_chart(
            points, title=f"{title}, {window.value}", fmt=show, y_label=CURRENCY, x_label=x_label
        )

    buckets = series.buckets
    return {
        "series": series,
        "window": window,
        "windows": list(Window),
        "revenue_chart": chart("Revenue", [b.revenue for b in buckets]),
        "margin_chart": chart("Margin on goods sold", [b.margin for b in buckets]),
        "profit_chart": chart("Cash flow (sales − supplier payments)", [b.profit for b in buckets]),
        "total_revenue": sum(b.revenue for b in buckets),
        "total_margin": sum(b.margin for b in buckets),
        "total_profit": sum(b.profit for b in buckets),
        "total_units": sum(b.units for b in buckets),
    }


def _orders(view: MachineView, window: Window, decimals: int) -> dict[str, Any]:
    return {"orders": view.orders()}


def _approvals(view: MachineView, window: Window, decimals: int) -> dict[str, Any]:
    return {"pending": view.pending_approvals(), "can_sign": view.can_sign()}


def _policy(view: MachineView, window: Window, decimals: int) -> dict[str, Any]:
    return {"policy": view.policy(), "pricing": view.pricing()}


def _suppliers(view: MachineView, window: Window, decimals: int) -> dict[str, Any]:
    return {"suppliers": view.suppliers()}


def _members(view: MachineView, window: Window, decimals: int) -> dict[str, Any]:
    return {"m": view.members()}


def _rides(view: MachineView, window: Window, decimals: int) -> dict[str, Any]:
    rides = view.rides()
    if rides is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "This machine sells no rides.")
    return {"r": rides}


PAGES: dict[str, tuple[str, Builder]] = {
    "overview": ("Overview", _overview),
    "stock": ("Stock", _stock),
    "sales": ("Sales and P&L", _sales),
    "orders": ("Orders", _orders),
    "approvals": ("Approvals", _approvals),
    "policy": ("Policy", _policy),
    "suppliers": ("Suppliers", _suppliers),
    "members": ("Members and distributions", _members),
    "rides": ("Rides and fares", _rides),
}
# Pages that apply only to a machine that has slots, or only to one that sells rides.
STOCK_PAGES = frozenset({"stock", "sales"})
RIDE_PAGES = frozenset({"rides"})
PageName = Annotated[str, Path(max_length=32)]


def render(
    request: Request,
    state: State,
    owner: AuthenticatedOwner,
    template: str,
    context: dict[str, Any],
    *,
    code: int = 200,
    flash: bool = True,
) -> Response:
    """Render with what every page needs: the owner, the CSRF token, a one-time flash."""
    base = {
        "owner": owner.name,
        "csrf": csrf_token(request),
        "flash": request.session.pop("flash", None) if flash else None,
        "device_id": state.settings.device_id,
        "nav": navigation(state.pages),
    }
    return state.templates.TemplateResponse(
        request, template, {**base, **context}, status_code=code
    )


def navigation(pages: frozenset[str]) -> list[tuple[str, str]]:
    """The menu: (page, title) for the pages that apply, in the menu's order."""
    return [(name, title) for name, (title, _) in PAGES.items() if name in pages]


def applicable_pages(view: MachineView) -> frozenset[str]:
    """The pages this machine has something for: stock and sales need slots, rides a taxi."""
    pages = set(PAGES)
    if not view.slots():
        pages -= STOCK_PAGES
    if view.rides() is None:
        pages -= RIDE_PAGES
    return frozenset(pages)


def _build(state: State, name: str, window: Window) -> dict[str, Any]:
    if name not in state.pages:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND,
            f"There is no page {name!r} for this machine; the links above lead to every page.",
        )
    title, builder = PAGES[name]
    try:
        data = builder(state.view, window, state.settings.chain.token_decimals)
    except ViewUnavailableError as exc:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, str(exc)) from None
    query = f"?window={window.value}" if name == "sales" else ""
    return {
        **data,
        "page": name,
        "title": title,
        "partial": f"partials/{name}.html",
        "fragment_url": f"/fragments/{name}{query}",
    }


def _page(
    request: Request, state: State, owner: AuthenticatedOwner, name: str, window: Window
) -> Response:
    return render(request, state, owner, "page.html", _build(state, name, window))


@router.get("/", response_class=HTMLResponse)
def overview(request: Request, state: State, owner: PageOwner) -> Response:
    return _page(request, state, owner, "overview", Window.day)


@router.get("/sales", response_class=HTMLResponse)
def sales(
    request: Request, state: State, owner: PageOwner, window: WindowQuery = Window.day
) -> Response:
    return _page(request, state, owner, "sales", window)


@router.get("/orders/{order_id}", response_class=HTMLResponse)
def order_detail(
    request: Request,
    state: State,
    owner: PageOwner,
    order_id: Annotated[str, Path(pattern=ORDER_ID_PATTERN)],
) -> Response:
    try:
        detail = state.view.order(order_id.lower())
    except OrderNotFoundError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
    except ViewUnavailableError as exc:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, str(exc)) from None
    decimals = state.settings.chain.token_decimals
    return render(
        request,
        state,
        owner,
        "order.html",
        {
            "d": detail,
            "story": story(detail.transcript, detail.lines, decimals)
            if detail.transcript is not None
            else None,
            "page": "orders",
            "title": f"Order {short_id(detail.order.order_id)} · "
            f"{detail.order.supplier_name or short_hex(detail.order.supplier)}",
        },
    )


@router.get("/fragments/{name}", response_class=HTMLResponse)
def fragment(
    request: Request,
    state: State,
    owner: ApiOwner,
    name: PageName,
    window: WindowQuery = Window.day,
) -> Response:
    context = _build(state, name, window)
    return render(request, state, owner, context["partial"], context, flash=False)


@router.get("/{name}", response_class=HTMLResponse)
def page(request: Request, state: State, owner: PageOwner, name: PageName) -> Response:
    return _page(request, state, owner, name, Window.day)
