"""Prometheus ``/metrics`` from a per-app registry, collected fresh from the view on scrape.

Read-only and secret-free (on-chain figures are public anyway). It needs a bearer token
(``Authorization: Bearer ...``, Prometheus' ``authorization.credentials_file``) when
``dashboard.metrics_auth`` says so: by default whenever the dashboard binds beyond loopback.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

import structlog
from fastapi import APIRouter, Header, HTTPException, Request, status
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from dashboard.errors import ViewUnavailableError
from dashboard.security import secret_matches
from dashboard.view import MachineView, Window

router = APIRouter(tags=["metrics"], include_in_schema=False)
log = structlog.get_logger()


class MachineCollector(Collector):
    """Turns one MachineView read into gauges; a part that cannot be read is left out."""

    def __init__(self, view: MachineView) -> None:
        self.view = view

    def collect(self) -> Iterator[GaugeMetricFamily]:
        try:
            slots = self.view.slots()
        except ViewUnavailableError as exc:
            log.warning("metrics_slots_unavailable", problem=str(exc))
        else:
            stock = GaugeMetricFamily(
                "custobot_slot_stock_items", "Items in the slot", labels=["slot", "gtin"]
            )
            fill = GaugeMetricFamily(
                "custobot_slot_fill_ratio", "Items / capacity", labels=["slot"]
            )
            fault = GaugeMetricFamily(
                "custobot_slot_sensor_fault",
                "1 while the slot's sensor is in fault",
                labels=["slot", "state"],
            )
            for s in slots:
                if s.count is not None:
                    stock.add_metric([str(s.slot_id), s.gtin], s.count)
                    fill.add_metric([str(s.slot_id)], s.count / s.capacity)
                faulty = s.health not in ("ok", "unknown")
                fault.add_metric([str(s.slot_id), s.health], 1.0 if faulty else 0.0)
            faults = sum(1 for s in slots if s.health not in ("ok", "unknown"))
            yield stock
            yield fill
            yield fault
            yield GaugeMetricFamily(
                "custobot_sensor_faults", "Slots whose sensor is in fault", value=faults
            )
        try:
            overview = self.view.overview()
            today = self.view.sales_series(Window.day)
        except ViewUnavailableError as exc:
            log.warning("metrics_overview_unavailable", problem=str(exc))
        else:
            yield GaugeMetricFamily(
                "custobot_sales_units_24h",
                "Units sold in the last 24 h",
                value=sum(b.units for b in today.buckets),
            )
            yield GaugeMetricFamily(
                "custobot_revenue_24h_base_units",
                "Revenue in the last 24 h, token base units",
                value=sum(b.revenue for b in today.buckets),
            )
            yield GaugeMetricFamily(
                "custobot_open_orders", "Orders placed and not settled", value=overview.open_orders
            )
            yield GaugeMetricFamily(
                "custobot_pending_approvals",
                "Orders waiting for an owner",
                value=overview.pending_approvals,
            )
            if overview.treasury is not None:
                t = overview.treasury
                yield GaugeMetricFamily(
                    "custobot_treasury_balance_base_units",
                    "ProfitCenter token balance",
                    value=t.balance,
                )
                yield GaugeMetricFamily(
                    "custobot_treasury_reserved_base_units",
                    "Reserved for open orders",
                    value=t.reserved,
                )
            yield GaugeMetricFamily(
                "custobot_chain_up",
                "1 when the chain was readable",
                value=int(overview.treasury is not None),
            )
        depth = self.view.outbox_depth()
        if depth is not None:
            yield GaugeMetricFamily(
                "custobot_outbox_depth", "Chain transactions waiting to be sent", value=depth
            )


def build_registry(view: MachineView) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(MachineCollector(view))
    return registry


@router.get("/metrics")
def metrics(
    request: Request, authorization: Annotated[str | None, Header(max_length=256)] = None
) -> Response:
    token: str | None = request.app.state.metrics_token
    if token is not None:
        scheme, _, given = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not secret_matches(token, given.strip()):
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                "a bearer token is required",
                headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
            )
    registry: CollectorRegistry = request.app.state.metrics_registry
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
