"""Colours of health and status badges on the deployment pages."""

from typing import Any

from django import template

register = template.Library()

TONES = {
    "healthy": "success",
    "progressing": "info",
    "degraded": "danger",
    "unknown": "secondary",
    "succeeded": "success",
    "passed": "success",
    "running": "info",
    "in_progress": "info",
    "queued": "secondary",
    "failed": "danger",
    "rolled_back": "warning",
    "cancelled": "secondary",
    "skipped": "light",
}


@register.filter
def tone(value: str) -> str:
    """The Bootstrap colour of a health, deployment, run or stage status."""
    return TONES.get(str(value), "secondary")


@register.filter
def cells(row: Any, columns: Any) -> list[Any]:
    """A matrix row's cells in the columns' order (None where the service does not run)."""
    return list(row.in_order(columns))
