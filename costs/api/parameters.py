"""Query parameters the costs API takes: one it does not take is a 400 naming those it does, never ignored.

An ignored filter answers the unfiltered figure as if it were filtered; a
misspelt ``?tema=payments`` must say so. The names come from what the view
already declares (its filterset's filters, its paginator's parameters), so
a filter added to a filterset is accepted without a second list to keep.
"""

from __future__ import annotations

from typing import Any

from django_filters.rest_framework import DjangoFilterBackend
from rest_framework import exceptions
from rest_framework.permissions import SAFE_METHODS
from rest_framework.request import Request

from costs.forms import unknown_message, unknown_parameters

# Every API view takes DRF's format override.
COMMON = ("format",)
_PAGINATION_ATTRIBUTES = (
    "page_query_param",
    "page_size_query_param",
    "limit_query_param",
    "offset_query_param",
    "cursor_query_param",
)


class KnownQueryParameters:
    """Mixin for the costs API's viewsets: reads (GET) with a parameter the action does not take are 400s.

    The check runs after authentication and permissions, so who may not read an endpoint learns nothing here.
    """

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)  # type: ignore[misc]
        if request.method not in SAFE_METHODS:
            return
        known = self.known_query_parameters()
        unknown = unknown_parameters(request.query_params.keys(), known)
        if unknown:
            raise exceptions.ValidationError({name: [unknown_message(name, known)] for name in unknown})

    def known_query_parameters(self) -> list[str]:
        view: Any = self
        names = list(COMMON)
        if getattr(view, "action", None) != "list":
            return names
        paginator = getattr(view, "paginator", None)
        if paginator is not None:
            names += [getattr(paginator, name) for name in _PAGINATION_ATTRIBUTES if getattr(paginator, name, None)]
        for backend_class in getattr(view, "filter_backends", ()):
            if issubclass(backend_class, DjangoFilterBackend):
                filterset_class = backend_class().get_filterset_class(view, view.get_queryset())
                if filterset_class is not None:
                    names += list(filterset_class.base_filters)
        return list(dict.fromkeys(names))
