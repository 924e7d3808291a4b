"""Forecasts: complete days so far plus the trailing daily mean for every day left."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from costs.forecast import forecast_period, month_bounds, quarter_bounds


def test_the_forecast_adds_the_trailing_weeks_mean_for_each_day_left() -> None:
    start, end = month_bounds(date(2026, 11, 20))
    daily = {date(2026, 11, day): Decimal(10) for day in range(1, 13)}
    daily |= {date(2026, 11, day): Decimal(24) for day in range(13, 20)}
    daily[date(2026, 11, 20)] = Decimal(1)  # today: partial, not counted as known

    forecast = forecast_period(daily, start, end, today=date(2026, 11, 20))

    assert forecast.actual == Decimal(120 + 7 * 24)
    assert forecast.daily_rate == Decimal(24)
    assert forecast.days_left == 11
    assert forecast.forecast == Decimal(120 + 7 * 24 + 11 * 24)


def test_a_period_just_begun_or_over_is_what_is_known() -> None:
    start, end = month_bounds(date(2026, 11, 1))
    assert forecast_period({}, start, end, today=date(2026, 11, 1)).forecast == 0
    finished = forecast_period({date(2026, 11, 30): Decimal(5)}, start, end, today=date(2026, 12, 3))
    assert (finished.actual, finished.forecast, finished.days_left) == (Decimal(5), Decimal(5), 0)


def test_period_bounds() -> None:
    assert month_bounds(date(2026, 12, 31)) == (date(2026, 12, 1), date(2027, 1, 1))
    assert quarter_bounds(date(2026, 11, 26)) == (date(2026, 10, 1), date(2027, 1, 1))
    assert quarter_bounds(date(2026, 2, 1)) == (date(2026, 1, 1), date(2026, 4, 1))
