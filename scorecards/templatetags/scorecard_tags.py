"""Levels and results in words (and a mark beside the colour, so nothing is told by colour alone)."""

from __future__ import annotations

from django import template

from scorecards.choices import ResultStatus, level_label

register = template.Library()

LEVEL_MARKS = {"gold": "★★★", "silver": "★★", "bronze": "★"}
NO_LEVEL_MARK = "\u2013"  # an en dash: no star
RESULT_MARKS: dict[str, str] = {ResultStatus.PASSED: "✓", ResultStatus.FAILED: "✗", ResultStatus.UNKNOWN: "?"}


@register.filter
def level_name(level: str) -> str:
    """ "Gold", "Silver", "Bronze" or "No level"."""
    return level_label(str(level or ""))


@register.filter
def level_mark(level: str) -> str:
    return LEVEL_MARKS.get(str(level or ""), NO_LEVEL_MARK)


@register.filter
def result_name(status: str) -> str:
    """ "Passed", "Failed", "Not checked", or "Not evaluated yet" for a rule with no result."""
    return ResultStatus(status).label if status in ResultStatus.values else "Not evaluated yet"


@register.filter
def result_mark(status: str) -> str:
    return RESULT_MARKS.get(str(status or ""), "…")
