"""Page-number pagination for every list endpoint."""

from __future__ import annotations

from rest_framework import pagination
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request


class Pagination(pagination.PageNumberPagination):
    """``?page=`` and ``?page_size=`` (at most 500; more is capped). A ``page_size`` that is
    not a positive whole number is a 400, not silently the default."""

    page_size_query_param = "page_size"
    max_page_size = 500

    def get_page_size(self, request: Request) -> int | None:
        given = request.query_params.get(self.page_size_query_param)
        if given is not None and not (given.isdigit() and int(given) > 0):
            raise ValidationError({self.page_size_query_param: ["Give a whole number from 1 to 500."]})
        return super().get_page_size(request)
