"""A matrix cell says what the template's filters used to work out: the same words, worked out once per cell."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.template import Context, Template
from django.utils import timezone

from deployments.choices import Health
from deployments.selectors import Cell

ROLLED_OUT = datetime(2025, 3, 2, 23, 5, 9, tzinfo=UTC)


def with_filters(template: str, **context: object) -> str:
    """What the template's own filters make of ``context``."""
    return Template("{% load deployment_tags %}" + template).render(Context(context))


@pytest.mark.parametrize("zone", ["UTC", "Europe/Berlin", "Australia/Sydney", "America/New_York"])
def test_a_cells_dates_read_as_the_date_filters_would_write_them(zone: str) -> None:
    cell = Cell(versions=["1.0.0"], rolled_out_at=ROLLED_OUT)

    with timezone.override(zone):
        assert cell.rolled_out_iso == with_filters("{{ when|date:'c' }}", when=ROLLED_OUT)
        assert cell.rolled_out_title == with_filters('Rolled out {{ when|date:"j M Y H:i T" }}', when=ROLLED_OUT)


def test_a_cells_age_reads_as_timesince_would_write_it() -> None:
    five_hours_ago = timezone.now() - timedelta(hours=5, minutes=3)
    cell = Cell(versions=["1.0.0"], rolled_out_at=five_hours_ago)

    assert cell.rolled_out_ago == with_filters("{{ when|timesince }}", when=five_hours_ago)
    assert cell.rolled_out_ago.startswith("5\xa0hours")


@pytest.mark.parametrize("health", [*Health.values, ""])
def test_a_cells_health_badge_reads_as_the_health_include_would_write_it(health: str) -> None:
    cell = Cell(versions=["1.0.0"], health=health)

    badge = with_filters('{% include "deployments/_health.html" %}', health=health)

    assert f'class="badge text-bg-{cell.health_tone}"' in badge
    assert f">{cell.health_label}</span>" in badge


def test_a_cell_never_rolled_out_has_no_dates() -> None:
    cell = Cell(versions=["1.0.0"])

    assert (cell.rolled_out_iso, cell.rolled_out_title, cell.rolled_out_ago) == ("", "", "")


def test_a_cells_version_is_what_most_of_its_workloads_run() -> None:
    cell = Cell(versions=["1.1.0", "1.2.0", "1.2.0", "1.0.0"])

    assert cell.version == "1.2.0"
    assert cell.other_versions == ["1.0.0", "1.1.0"]
