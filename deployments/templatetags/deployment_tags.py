"""Colours of health and status badges on the deployment pages, and links CI systems reported."""

from typing import Any

from django import template

from deployments.choices import tone_of
from deployments.hooks import services as hooks

register = template.Library()


@register.filter
def tone(value: str) -> str:
    """The Bootstrap colour of a health, deployment, run or stage status."""
    return tone_of(value)


@register.filter
def cells(row: Any, columns: Any) -> list[Any]:
    """A matrix row's cells in the columns' order (None where the service does not run)."""
    return list(row.in_order(columns))


@register.filter
def web_link(value: Any) -> str:
    """A reported URL to link to: itself when it is an http(s) address, else "" (no link), whenever it was stored."""
    return hooks.web_link(str(value or ""))
