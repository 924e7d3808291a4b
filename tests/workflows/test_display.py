"""How a run is shown on its subject's page: steps in order with status, timing, waits and errors;
polling only while it goes."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from django.template.loader import render_to_string
from django.test import RequestFactory

from access.models import User
from tests.workflows import definitions  # noqa: F401 (registers the scripted workflow these runs are of)
from workflows import engine, selectors
from workflows.models import Run
from workflows.templatetags.workflows import took

pytestmark = pytest.mark.django_db


def render(run: Run, **urls: str) -> str:
    request = RequestFactory().get("/")
    return render_to_string("workflows/_run.html", {**selectors.run_context(run), **urls}, request=request)


def scripted(tmp_path: Path, key: str, **script: list[str]) -> Run:
    params = {"journal": str(tmp_path / "j"), "steps": ["Create the network", "Create the cluster"], "script": script}
    return engine.start("tests.scripted", key=key, params=params)


def test_a_waiting_run_polls_and_shows_what_it_waits_for(tmp_path: Path) -> None:
    run = scripted(tmp_path, "w", **{"Create the cluster": ["slow"]})
    engine.advance(run.pk)

    html = render(Run.objects.get(pk=run.pk), poll_url="/environments/1/progress/", cancel_url="/x/cancel/")

    assert 'hx-get="/environments/1/progress/"' in html
    assert 'hx-trigger="every 2s"' in html
    assert html.index("Create the network") < html.index("Create the cluster")
    assert "waiting for the database" in html
    assert 'data-step-status="succeeded"' in html
    assert 'data-step-status="waiting"' in html
    assert "Cancel" in html


def test_a_failed_run_stops_polling_and_offers_retry_with_the_error(tmp_path: Path) -> None:
    run = scripted(tmp_path, "f", **{"Create the cluster": ["invalid"]})
    engine.advance(run.pk)

    html = render(Run.objects.get(pk=run.pk), poll_url="/p/", retry_url="/x/retry/", cancel_url="/x/cancel/")

    assert "hx-get" not in html
    assert "Create the cluster: the name is not a DNS label" in html
    assert 'action="/x/retry/"' in html
    assert "Cancel" not in html


def test_runs_are_found_by_their_subject(tmp_path: Path) -> None:
    subject = User.objects.create(username="subject")
    other = User.objects.create(username="other")
    first = engine.start(
        "tests.scripted", key="s1", subject=subject, params={"journal": str(tmp_path / "j"), "steps": ["a"]}
    )
    second = engine.start(
        "tests.scripted", key="s2", subject=subject, params={"journal": str(tmp_path / "j"), "steps": ["a"]}
    )

    assert list(selectors.runs_of(subject)) == [second, first]
    assert selectors.latest_run(subject, "tests.scripted") == second
    assert selectors.latest_run(other) is None


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [(0.42, "0.4 s"), (12.3, "12 s"), (185, "3 min 05 s"), (3720, "1 h 02 min")],
)
def test_durations_read_as_people_say_them(seconds: float, shown: str) -> None:
    assert took(timedelta(seconds=seconds)) == shown
