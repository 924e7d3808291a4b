"""The days the cost store and its reports accept: from 2000-01-01 to five years after today.

A bill's charge dates, a report's range and an export's range all stay within
these bounds, so a typo (``0001-01-01``, ``20255-01-01``) is refused with a
message rather than reaching PostgreSQL or a date computation that cannot
hold it.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from django import forms

EARLIEST_DAY = date(2000, 1, 1)
YEARS_AHEAD = 5


def latest_day(today: date) -> date:
    """The last day accepted: ``today`` five years on (28 February when today is 29 February)."""
    try:
        return today.replace(year=today.year + YEARS_AHEAD)
    except ValueError:
        return today.replace(year=today.year + YEARS_AHEAD, day=28)


def refuse_days_outside(form: forms.Form, data: dict[str, Any], names: tuple[str, ...], today: date) -> None:
    """Add an error to each of ``form``'s date fields ``names`` whose day lies outside the days accepted."""
    earliest, latest = EARLIEST_DAY, latest_day(today)
    for name in names:
        day = data.get(name)
        if day is not None and not earliest <= day <= latest:
            form.add_error(name, f"{day.isoformat()} is outside the dates costs cover ({earliest} to {latest}).")
