"""``GET /api/search/?q=``: the search page's results as JSON, through the same selectors and policy."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from portal.api.permissions import SignedIn
from search import selectors
from search.api.serializers import SearchResultsSerializer
from search.query import read_query


class SearchView(APIView):
    """Services, environments, deployments (by version), clusters, regions, teams and people matching ``q``.

    Only what the caller may see on each kind's list, at most 10 per kind, best first, with each kind's count.
    """

    permission_classes = [SignedIn]

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "q",
                OpenApiTypes.STR,
                description="What to search for: 2 to 100 characters, no control characters.",
            )
        ],
        responses={200: SearchResultsSerializer},
    )
    def get(self, request: Request) -> Response:
        query = read_query(request.query_params.get("q"))
        if query.problem:
            raise ValidationError({"q": [query.problem]})
        results = selectors.search(user=request.user, text=query.text) if query.searchable else None
        body = {"query": query.text, "hint": query.hint, "groups": results.groups if results else []}
        return Response(SearchResultsSerializer(body).data)
