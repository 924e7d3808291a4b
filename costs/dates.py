"""The days the cost store and its reports accept: from 2000-01-01 to five years after today.

A bill's charge dates, a report's range and an export's range all stay within
these bounds, so a typo (``0001-01-01``, ``20255-01-01``) is refused with a
message rather than reaching PostgreSQL or a date computation that cannot
hold it.
"""

from __future__ import annotations

from datetime import date

EARLIEST_DAY = date(2000, 1, 1)
YEARS_AHEAD = 5


def latest_day(today: date) -> date:
    """The last day accepted: ``today`` five years on (28 February when today is 29 February)."""
    try:
        return today.replace(year=today.year + YEARS_AHEAD)
    except ValueError:
        return today.replace(year=today.year + YEARS_AHEAD, day=28)
