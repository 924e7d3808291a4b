"""A real Celery worker closes an access review whose deadline has passed, revoking what was left unreviewed.

Apart from the other review tests (which share one demo between them): a worker needs committed data.
"""

from __future__ import annotations

import subprocess
from datetime import timedelta

from django.utils import timezone

from access import services
from access.models import AccessReview, Grant, Team, User
from access.tasks import expire_overdue_reviews
from tests.factories import GrantFactory
from tests.helpers import wait_until


def test_a_real_worker_closes_an_overdue_review(celery_worker_process: subprocess.Popen[bytes], demo: None) -> None:
    grant = GrantFactory.create(team=Team.objects.get(slug="tutor-tools"))
    review = services.access_review_open(
        actor=User.objects.get(username="admin"), name="Q4 review", deadline=timezone.now() + timedelta(days=14)
    )
    AccessReview.objects.filter(pk=review.pk).update(deadline=timezone.now() - timedelta(minutes=1))

    expire_overdue_reviews.delay()

    wait_until(lambda: AccessReview.objects.get(pk=review.pk).status == AccessReview.Status.CLOSED, timeout=60)
    assert Grant.objects.get(pk=grant.pk).revoked_at is not None
