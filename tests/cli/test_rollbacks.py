"""``portal deploy revisions|rollback|rollbacks|freeze|unfreeze``: a developer rolls a workload back from the
command line (followed to its end by a real Celery worker) and freezes an environment, against a live portal."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.utils import timezone

from access.models import User
from deployments.choices import RollbackStatus
from deployments.models import FreezeWindow, RollbackRequest
from portal.demo import Persona, username_of
from providers.sandbox.cluster import SandboxClusterDriver
from regions.drivers import cluster_driver_for
from regions.models import Cluster
from tests.cli.conftest import Portal
from tests.deployments.cluster_objects import IMAGES, seed_deployment
from tests.deployments.test_rollback import workload
from tests.fixtures import WorkerFactory


def test_a_developer_rolls_a_workload_back_from_the_command_line_and_waits_for_it(
    portal: Portal,
    signed_in: Callable[..., dict[str, str]],
    start_celery_worker: WorkerFactory,
    settings: Any,
    tmp_path: Path,
) -> None:
    settings.DATA_DIR = tmp_path  # the worker's sandbox cluster is this test's own
    cluster = Cluster.objects.select_related("region__account").get(name="eks-eu-west-1")
    driver = cluster_driver_for(cluster)
    assert isinstance(driver, SandboxClusterDriver)
    seed_deployment(driver.seed, "checkout-staging-core-services", "checkout", IMAGES)
    row = workload(cluster, User.objects.get(username=username_of(Persona.DEVELOPER)))
    start_celery_worker(env={"PORTAL_DATA_DIR": str(tmp_path)})
    ci = signed_in(Persona.DEVELOPER)

    offered = portal("deploy", "revisions", str(row.pk), env=ci)
    assert offered.exit_code == 0, offered.stderr
    assert "1.3.0" in offered.stdout  # revision 1's version, the one to go back to

    asked = portal(
        "deploy", "rollback", str(row.pk), "--to-revision", "1", "--reason", "checkout answers 500",
        "--idempotency-key", "pipeline-77", "--wait", "--interval", "0.5", "--timeout", "120", env=ci,
    )  # fmt: skip

    assert asked.exit_code == 0, asked.stderr
    rollback = RollbackRequest.objects.get(workload=row)
    assert rollback.status == RollbackStatus.SUCCEEDED
    assert "1.4.0 → 1.3.0" in asked.stdout
    again = portal(
        "--json", "deploy", "rollback", str(row.pk), "--to-revision", "1", "--reason", "checkout answers 500",
        "--idempotency-key", "pipeline-77", env=ci,
    )  # fmt: skip
    assert again.exit_code == 0, again.stderr
    assert again.json()["id"] == rollback.pk  # the re-run job's key: nothing rolled back twice
    listed = portal("deploy", "rollbacks", env=ci)
    assert "checkout" in listed.stdout
    assert "succeeded" in listed.stdout
    wrong = portal("deploy", "rollback", str(row.pk), "--to-revision", "9", "--reason", "why not", env=ci)
    assert wrong.exit_code == 1
    assert "Revision 9 is not one to go back to" in wrong.stderr


def test_a_developer_freezes_an_environment_and_ends_the_freeze(
    portal: Portal, signed_in: Callable[..., dict[str, str]]
) -> None:
    cluster = Cluster.objects.get(name="eks-eu-west-1")
    row = workload(cluster, User.objects.get(username=username_of(Persona.DEVELOPER)))
    assert row.environment is not None
    ci = signed_in(Persona.DEVELOPER)
    until = (timezone.now() + timedelta(hours=4)).isoformat()

    frozen = portal("deploy", "freeze", str(row.environment.pk), "--until", until, "--reason", "Exam week.", env=ci)

    assert frozen.exit_code == 0, frozen.stderr
    window = FreezeWindow.objects.get(environment=row.environment)
    assert "is frozen from" in frozen.stdout
    refused = portal("deploy", "rollback", str(row.pk), "--to-revision", "1", "--reason", "now", env=ci)
    assert refused.exit_code == 1
    assert "frozen until" in refused.stderr
    ended = portal("deploy", "unfreeze", str(window.pk), env=ci)
    assert ended.exit_code == 0, ended.stderr
    assert FreezeWindow.objects.get(pk=window.pk).ends_at <= timezone.now()
