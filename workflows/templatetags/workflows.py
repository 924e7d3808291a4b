"""Template helpers for showing a workflow run: durations and status colours."""

from __future__ import annotations

from datetime import timedelta

from django import template

from portal import numbers

register = template.Library()

BADGES = {
    "pending": "text-bg-light border",
    "running": "text-bg-primary",
    "waiting": "text-bg-warning",
    "succeeded": "text-bg-success",
    "failed": "text-bg-danger",
    "cancelled": "text-bg-secondary",
}


@register.filter
def took(duration: timedelta | None) -> str:
    """``0.4 s``, ``12 s``, ``3 min 05 s``, ``1 h 02 min``, ``3 d 04 h``; empty for a step not finished."""
    if duration is None:
        return ""
    seconds = duration.total_seconds()
    if seconds < 10:
        return f"{numbers.number(seconds, 1)} s"
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes, rest = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {rest:02d} s"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes:02d} min"
    days, hours = divmod(hours, 24)
    return f"{numbers.number(days)} d {hours:02d} h"


@register.filter
def status_badge(status: str) -> str:
    """The Bootstrap badge classes for a run or step status."""
    return BADGES.get(status, "text-bg-light border")
