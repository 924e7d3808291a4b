"""A real Celery worker evaluates the scorecards: on the schedule's task, and after a platform admin saves a rule.

Apart from the other scorecard tests (which share one demo between them): a worker needs committed data.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from django.test import Client
from django.urls import reverse

from access.models import User
from deployments.models import Service
from scorecards.models import RuleResult, Scorecard, ServiceScore
from scorecards.tasks import evaluate_scorecards
from tests.fixtures import WorkerFactory
from tests.helpers import wait_until


def test_beat_evaluates_every_scorecard_on_the_configured_interval(settings: Any) -> None:
    from portal.celery import app

    entry = settings.CELERY_BEAT_SCHEDULE["scorecards-evaluate"]

    assert entry["task"] == "scorecards.evaluate"
    assert entry["schedule"] == float(settings.SCORECARDS_EVALUATE_SECONDS)
    app.loader.import_default_modules()
    assert entry["task"] in app.tasks


def test_a_real_worker_evaluates_every_service_and_again_when_an_admin_saves_a_rule(
    start_celery_worker: WorkerFactory, demo: None, settings: Any, tmp_path: Path
) -> None:
    settings.DATA_DIR = tmp_path  # the worker's sandbox cloud is the same directory
    worker: subprocess.Popen[bytes] = start_celery_worker(env={"PORTAL_DATA_DIR": str(tmp_path)})
    portal = Service.objects.get(slug="student-portal")
    readiness = Scorecard.objects.get(name="Production readiness")

    evaluate_scorecards.delay()

    wait_until(lambda: ServiceScore.objects.filter(scorecard=readiness).count() == Service.objects.count(), timeout=60)
    assert ServiceScore.objects.get(service=portal).level == "silver"
    assert worker.poll() is None
    rule = readiness.rules.get(kind="deployed_within")
    admin = Client()
    admin.force_login(User.objects.get(username="admin"))

    response = admin.post(
        reverse("scorecards:rule_edit", kwargs={"pk": rule.pk}),
        {"kind": "deployed_within", "level": "silver", "days": "1"},
    )

    assert response.status_code == 302
    reason = wait_until(
        lambda: RuleResult.objects.filter(service=portal, rule=rule).values_list("reason", flat=True).first(),
        timeout=60,
    )
    assert reason is not None
    assert reason.endswith("(rule: within 1 day).")
    wait_until(lambda: ServiceScore.objects.get(service=portal).level == "bronze", timeout=60)
