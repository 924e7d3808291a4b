"""``portal services|workloads|hooks|scorecards`` against a live portal: a developer keeps the catalogue, claims an
unmatched workload and looks into a crash-looping one from the command line; CI sources and scorecards likewise."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from access.models import AuditEvent, User
from deployments.models import Service, WebhookSource, Workload
from portal.demo import Persona, username_of
from providers.sandbox.cluster import SandboxClusterDriver
from regions.drivers import cluster_driver_for
from regions.models import Cluster
from tests.cli.conftest import Portal
from tests.deployments.cluster_objects import IMAGES, seed_deployment
from tests.deployments.test_kubernetes_panel import CRASHING, MARKER, NAMESPACE, seed_checkout_pods
from tests.deployments.test_rollback import workload


def crash_looping_checkout(tmp_path: Path) -> Workload:
    """The synced checkout workload of student-experience, one of whose pods crash-loops in its sandbox cluster."""
    cluster = Cluster.objects.select_related("region__account").get(name="eks-eu-west-1")
    driver = cluster_driver_for(cluster)
    assert isinstance(driver, SandboxClusterDriver)
    seed_deployment(driver.seed, NAMESPACE, "checkout", IMAGES)
    seed_checkout_pods(driver.seed)
    driver.seed_logs([(NAMESPACE, CRASHING, "checkout", f"starting checkout\nKeyError: 'DB_URL' {MARKER}\n", False)])
    return workload(cluster, User.objects.get(username=username_of(Persona.DEVELOPER)))


def test_a_developer_keeps_the_catalogue_and_looks_into_a_workload_from_the_command_line(
    portal: Portal, signed_in: Callable[..., dict[str, str]], settings: Any, tmp_path: Path
) -> None:
    settings.DATA_DIR = tmp_path  # the live server's sandbox cluster is this test's own
    checkout = crash_looping_checkout(tmp_path)
    ci = signed_in(Persona.DEVELOPER)

    created = portal(
        "services", "create", "--slug", "exam-portal", "--name", "Exam portal", "--team", "student-experience",
        "--namespace-group", "student-services", "--link", "Dashboard=https://grafana.example.com/d/exam", env=ci,
    )  # fmt: skip
    edited = portal("services", "edit", "exam-portal", "--description", "Where students sit exams.", env=ci)
    shown = portal("services", "show", "exam-portal", env=ci)
    listed = portal("--json", "services", "list", "--team", "student-experience", env=ci)
    refused = portal("services", "create", "--slug", "x", "--name", "X", "--team", "student-experience",
                     "--namespace-group", "nowhere", env=ci)  # fmt: skip

    assert created.exit_code == 0, created.stderr
    assert edited.exit_code == 0, edited.stderr
    assert "Where students sit exams." in shown.stdout
    assert "https://grafana.example.com/d/exam" in shown.stdout
    assert "exam-portal" in {row["slug"] for row in listed.json()}
    assert refused.exit_code == 1
    assert "namespace group" in refused.stderr

    unmatched = portal("workloads", "list", "--unmatched", env=ci)
    toolbox = Workload.objects.get(name="debug-toolbox")
    claimed = portal("workloads", "claim", str(toolbox.pk), "--service", "exam-portal", env=ci)

    assert "debug-toolbox" in unmatched.stdout
    assert claimed.exit_code == 0, claimed.stderr
    assert "now belongs to exam-portal" in claimed.stdout
    assert Workload.objects.get(pk=toolbox.pk).service == Service.objects.get(slug="exam-portal")
    assert "debug-toolbox" not in portal("workloads", "list", "--unmatched", env=ci).stdout

    status = portal("workloads", "status", str(checkout.pk), env=ci)
    logs = portal("workloads", "logs", str(checkout.pk), "--container", "checkout", "--tail", "1", env=ci)

    assert status.exit_code == 0, status.stderr
    assert CRASHING in status.stdout
    assert "CrashLoopBackOff" in status.stdout
    assert "BackOff" in status.stdout  # the events table
    assert logs.exit_code == 0, logs.stderr
    assert MARKER in logs.stdout  # the least healthy pod's log, its last line only
    assert "starting checkout" not in logs.stdout
    assert AuditEvent.objects.filter(verb="deployments.logs_viewed", object_id=str(checkout.pk)).count() == 1

    deleted = portal("services", "delete", "exam-portal", "--yes", env=ci)
    assert deleted.exit_code == 0, deleted.stderr
    assert not Service.objects.filter(slug="exam-portal").exists()
    gone = portal("services", "show", "exam-portal", env=ci)
    assert gone.exit_code == 4


def test_ci_sources_and_scorecards_from_the_command_line(
    portal: Portal, signed_in: Callable[..., dict[str, str]]
) -> None:
    ci = signed_in(Persona.DEVELOPER)

    created = portal("hooks", "create", "--name", "exam-gitlab", "--provider", "gitlab", "--team",
                     "student-experience", "--idempotency-key", "pipeline-9", env=ci)  # fmt: skip
    replayed = portal("hooks", "create", "--name", "exam-gitlab", "--provider", "gitlab", "--team",
                      "student-experience", "--idempotency-key", "pipeline-9", env=ci)  # fmt: skip
    source = WebhookSource.objects.get(name="exam-gitlab")
    first_secret = source.secret
    rotated = portal("--json", "hooks", "rotate", "exam-gitlab", env=ci)
    narrowed = portal("hooks", "services", "exam-gitlab", "--service", "student-portal", env=ci)
    deactivated = portal("hooks", "deactivate", "exam-gitlab", env=ci)
    listed = portal("hooks", "list", env=ci)

    assert created.exit_code == 0, created.stderr
    assert first_secret in created.stdout
    assert "/hooks/exam-gitlab/" in created.stdout
    assert replayed.exit_code == 0
    assert first_secret not in replayed.stdout  # shown once: the replay says to rotate instead
    assert "shown once only" in replayed.stdout
    source.refresh_from_db()
    assert rotated.json()["secret"] == source.secret != first_secret
    assert "now writes to student-portal" in narrowed.stdout
    assert "deactivated" in deactivated.stdout
    assert not source.__class__.objects.get(pk=source.pk).active
    assert "exam-gitlab" in listed.stdout

    scorecards = portal("--json", "scorecards", "list", env=ci)
    readiness = next(card for card in scorecards.json() if card["name"] == "Production readiness")
    shown = portal("scorecards", "show", str(readiness["id"]), env=ci)
    not_allowed = portal("scorecards", "evaluate", str(readiness["id"]), env=ci)
    evaluated = portal(
        "scorecards", "evaluate", str(readiness["id"]),
        env=signed_in(Persona.PLATFORM_ADMIN, team="core-platform", role="platform_admin"),
    )  # fmt: skip
    cards = portal("services", "scorecards", "student-portal", env=ci)

    assert readiness["rules"]
    assert readiness["rules"][0]["title"] in shown.stdout
    assert not_allowed.exit_code == 3
    assert "Only platform admins" in not_allowed.stderr
    assert evaluated.exit_code == 0, evaluated.stderr
    assert "evaluated again" in evaluated.stdout
    assert "Production readiness" in cards.stdout
