"""Read API of the price table and of cost reports; only figures the policy lets the caller see are used."""

from __future__ import annotations

from typing import Any

from django.http.response import HttpResponseBase
from django.utils.cache import get_conditional_response
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from access import policy
from access.models import User
from costs import exports, filtersets, reports, selectors
from costs.api import serializers
from costs.api.parameters import KnownQueryParameters
from costs.choices import CostPeriod
from costs.forms import CostQueryForm, basis_names
from costs.models import CostRollup, PriceItem
from portal.api.permissions import PolicyPermission
from portal.api.viewsets import ScopedReadOnlyViewSet
from portal.csv_export import csv_stream


class PriceTablePermission(PolicyPermission):
    """Anyone signed in may ask; the selector lists only the rows their grants cover, and a row
    outside them is a 404 like one that does not exist. (Asking about the model would refuse
    people with no cost permission at all with a 403 while the rest get an empty list.)"""

    def has_permission(self, request: Request, view: Any) -> bool:
        return policy.can(request.user, policy.VIEW)


class PriceItemViewSet(KnownQueryParameters, ScopedReadOnlyViewSet):
    selector = selectors.price_list
    queryset = PriceItem.objects.all()
    serializer_class = serializers.PriceItemSerializer
    filterset_class = filtersets.PriceFilterSet
    permission_classes = [PriceTablePermission]


# --- cost reports ---------------------------------------------------------------------------------

_DIMENSION_NAMES = list(reports.DIMENSIONS)

COST_QUERY_PARAMETERS = [
    OpenApiParameter("by", str, enum=_DIMENSION_NAMES, description="What to break cost down by (default team)."),
    OpenApiParameter("from", OpenApiTypes.DATE, description="The first day (default: 29 days before `to`)."),
    OpenApiParameter("to", OpenApiTypes.DATE, description="The last day, included (default today)."),
    OpenApiParameter("grouping", str, enum=["day", "week", "month"], description="Periods of the series."),
    OpenApiParameter(
        "basis",
        str,
        enum=basis_names(),
        description="Effective (amortised, default), billed (cash), list or contracted. List minus effective is "
        "what discounts saved; contracted minus effective what commitment discounts saved.",
    ),
    OpenApiParameter(
        "period",
        str,
        enum=list(CostPeriod.values),
        description="Read the range by charge period (when the cost was incurred, default) or by billing period "
        "(the invoices whose billing month is in the range, with everything each charged; monthly series).",
    ),
    *[
        OpenApiParameter(
            name,
            str,
            many=True,
            explode=True,
            description=f"Only this {dimension.label.lower()} (repeat for several; `-` for none).",
        )
        for name, dimension in reports.DIMENSIONS.items()
    ],
]


# Parameters every API view takes besides its own (DRF's format override).
API_PARAMETERS = ("format",)


def _cost_query(request: Request, *extra: str) -> reports.CostQuery:
    """The query asked for; a 400 naming every bad parameter, an unknown one with the list of known ones."""
    form = CostQueryForm(request.query_params, extra_parameters=[*API_PARAMETERS, *extra])
    if not form.is_valid():
        raise exceptions.ValidationError(form.messages())
    return form.query()


def _user(request: Request) -> User:
    user = request.user
    assert isinstance(user, User)  # noqa: S101 (the permission let only people through)
    return user


class CostReaders(PolicyPermission):
    """Anyone holding ``costs.view`` on some figures (a developer: their team's); the figures are scoped."""

    def has_permission(self, request: Request, view: Any) -> bool:
        return policy.can(request.user, policy.VIEW, CostRollup)


class CostExporters(PolicyPermission):
    def has_permission(self, request: Request, view: Any) -> bool:
        return policy.can(request.user, policy.EXPORT, CostRollup)


class CostBreakdownView(APIView):
    """Cost broken down by a dimension over a date range, per currency, with its time series and top movers."""

    permission_classes = [CostReaders]

    @extend_schema(parameters=COST_QUERY_PARAMETERS, responses={200: serializers.CostBreakdownSerializer})
    def get(self, request: Request) -> Response:
        query = _cost_query(request)
        user = _user(request)
        result, movers = reports.breakdown_page(user, query)
        body = {
            "by": query.by,
            "from": query.range_start,
            "to": query.end,
            "grouping": query.series_grouping,
            "basis": query.basis,
            "period": query.period,
            "filters": {name: list(values) for name, values in query.filters},
            "totals": [
                {
                    "currency": total.currency,
                    "amount": total.amount,
                    "unallocated": total.unallocated,
                    "line_items": total.line_items,
                }
                for total in result.totals
            ],
            "rows": [
                {
                    "key": row.key,
                    "name": row.label,
                    "currency": currency,
                    "amount": amount,
                    "line_items": row.line_items,
                }
                for row in result.rows
                for currency, amount in sorted(row.amounts.items())
            ],
            "series": [{**vars(point), "name": point.label} for point in result.series],
            "movers": [{**vars(mover), "name": mover.label, "change": mover.change} for mover in movers],
        }
        return Response(serializers.CostBreakdownSerializer(body).data)


class CostExportView(APIView):
    """The breakdown's figures as CSV (``rows``: totals, series or movers), streamed; every export is audited."""

    permission_classes = [CostExporters]

    @extend_schema(
        parameters=[
            *COST_QUERY_PARAMETERS,
            OpenApiParameter(
                "rows", str, enum=list(exports.KINDS), description="What each CSV row is (default totals)."
            ),
        ],
        responses={(200, "text/csv"): OpenApiTypes.STR},
    )
    def get(self, request: Request) -> HttpResponseBase:
        query = _cost_query(request, "rows")
        kind = request.query_params.get("rows", "totals") or "totals"
        if kind not in exports.KINDS:
            raise exceptions.ValidationError({"rows": [f"Export rows as one of {', '.join(exports.KINDS)}."]})
        tag = exports.export_etag(_user(request), query, kind)
        not_modified = get_conditional_response(request, etag=tag)
        if not_modified is not None:
            return not_modified
        export = exports.costs_export(actor=_user(request), query=query, kind=kind)
        response = csv_stream(export.lines, filename=export.filename)
        response["ETag"] = tag
        return response
