"""``portal notifications``, ``search``, ``deploy dora``, ``tokens``, ``costs savings|budgets|anomalies`` and
``approvals approve --environment`` against a live portal; and Ctrl-C, which ends any command with exit 130."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from access.models import ApiToken, User
from approvals.models import ApprovalStatus
from costs.choices import RecommendationStatus
from costs.models import Recommendation
from environments.models import Environment
from notifications.models import Notification
from portal.demo import DEMO_PASSWORD, Persona, username_of
from tests.cli.conftest import Portal
from tests.costs.savings_data import make_environment
from tests.costs.test_savings_pages import recommendation, ttl_recommendation
from tests.test_authorisation_matrix import a_student_experience_anomaly, a_student_experience_budget


def test_a_developer_reads_the_inbox_searches_sees_dora_and_manages_tokens_from_the_command_line(
    portal: Portal, signed_in: Callable[..., dict[str, str]], live_server: Any, config_file: Path
) -> None:
    developer = User.objects.get(username=username_of(Persona.DEVELOPER))
    first = Notification.objects.create(recipient=developer, title="Environment ready", url="/environments/")
    Notification.objects.create(recipient=developer, title="Approval needed")
    ci = signed_in(Persona.DEVELOPER)

    unread = portal("notifications", "--unread", env=ci)
    assert unread.exit_code == 0, unread.stderr
    assert "Environment ready" in unread.stdout
    assert "Approval needed" in unread.stdout
    assert portal("notifications", "read", str(first.pk), env=ci).exit_code == 0
    assert [item["title"] for item in portal("--json", "notifications", "--unread", env=ci).json()] == [
        "Approval needed"
    ]
    everything = portal("notifications", "read", "--all", env=ci)
    assert everything.exit_code == 0, everything.stderr
    assert "Marked 1 notification read" in everything.stdout
    assert not Notification.objects.filter(recipient=developer, read_at__isnull=True).exists()
    assert portal("notifications", "read", env=ci).exit_code == 2  # neither an id nor --all

    found = portal("--json", "search", "student", "--kind", "services", env=ci)
    assert found.exit_code == 0, found.stderr
    assert [group["kind"] for group in found.json()["groups"]] == ["services"]
    assert found.json()["groups"][0]["count"] >= 1

    dora = portal("deploy", "dora", "--team", "student-experience", "--days", "90", env=ci)
    assert dora.exit_code == 0, dora.stderr
    assert "change failure rate" in dora.stdout
    unknown_team = portal("deploy", "dora", "--team", "no-such-team", env=ci)
    assert unknown_team.exit_code == 1
    assert "team" in unknown_team.stderr

    refused = portal("tokens", "create", "laptop", env=ci)
    assert refused.exit_code == 2
    assert "An API token cannot make API tokens" in refused.stderr
    made = portal(
        "tokens", "create", "laptop", "--username", "developer", "--password", DEMO_PASSWORD, "--days", "7",
        env={"PORTAL_URL": live_server.url},
    )  # fmt: skip
    assert made.exit_code == 0, made.stderr
    secret = made.stdout.strip()
    assert secret.startswith("ppt_")
    assert "shown only now" in made.stderr
    assert not config_file.exists()  # the secret is kept nowhere
    token = ApiToken.objects.get(owner=developer, name="laptop")
    listed = portal("--json", "tokens", "list", "--active", env=ci)
    assert token.pk in [item["id"] for item in listed.json()]
    assert portal("whoami", env={"PORTAL_URL": live_server.url, "PORTAL_TOKEN": secret}).exit_code == 0
    assert portal("tokens", "revoke", str(token.pk), env=ci).exit_code == 0
    assert portal("whoami", env={"PORTAL_URL": live_server.url, "PORTAL_TOKEN": secret}).exit_code == 3


def test_savings_budgets_anomalies_and_an_approval_named_by_its_environment_from_the_command_line(
    portal: Portal, signed_in: Callable[..., dict[str, str]], requested: Callable[..., Environment]
) -> None:
    database = recommendation("Smaller database for checkout", "77.38")
    bucket = recommendation("Lifecycle rule for exports", "12.50", kind="bucket_lifecycle")
    lifetime = ttl_recommendation(make_environment("forever"))
    a_student_experience_budget()
    a_student_experience_anomaly()
    manager, developer = (
        signed_in(Persona.MANAGER, role="manager", team="student-experience"),
        signed_in(Persona.DEVELOPER),
    )

    listed = portal("costs", "savings", env=manager)
    assert listed.exit_code == 0, listed.stderr
    assert "Smaller database for checkout" in listed.stdout
    only_buckets = portal("--json", "costs", "savings", "--kind", "bucket_lifecycle", env=manager)
    assert [item["id"] for item in only_buckets.json()] == [bucket.pk]
    assert portal("costs", "dismiss", str(database.pk), env=manager).exit_code == 0
    assert portal("costs", "snooze", str(bucket.pk), "--days", "7", env=manager).exit_code == 0
    not_allowed = portal("costs", "dismiss", str(lifetime.pk), env=developer)
    assert not_allowed.exit_code == 3
    set_ttl = portal("costs", "set-ttl", str(lifetime.pk), env=developer)
    assert set_ttl.exit_code == 0, set_ttl.stderr
    assert "forever now expires in 168 hours" in set_ttl.stdout
    assert dict(
        Recommendation.objects.filter(pk__in=[database.pk, bucket.pk, lifetime.pk]).values_list("pk", "status")
    ) == {
        database.pk: RecommendationStatus.DISMISSED,
        bucket.pk: RecommendationStatus.SNOOZED,
        lifetime.pk: RecommendationStatus.ACTED,
    }

    budgets = portal("costs", "budgets", env=manager)
    assert budgets.exit_code == 0, budgets.stderr
    assert "Matrix budget" in budgets.stdout
    anomalies = portal("--json", "costs", "anomalies", env=manager)
    assert anomalies.exit_code == 0, anomalies.stderr
    assert any(item["team"] == "student-experience" for item in anomalies.json())

    staging = requested("release-candidate", template="staging")
    lead = signed_in(Persona.TEAM_LEAD, role="team_lead")
    shown = portal("approvals", "show", "--environment", str(staging.pk), env=lead)
    assert shown.exit_code == 0, shown.stderr
    approved = portal("--json", "approvals", "approve", "--environment", str(staging.pk), env=lead)
    assert approved.exit_code == 0, approved.stderr
    assert approved.json()["status"] == ApprovalStatus.APPROVED
    nothing_waits = portal("approvals", "approve", "--environment", str(staging.pk), env=lead)
    assert nothing_waits.exit_code == 4
    assert "No approval request waiting about environments.environment" in nothing_waits.stderr


def test_ctrl_c_while_waiting_exits_130_with_one_line_and_no_traceback(
    signed_in: Callable[..., dict[str, str]], requested: Callable[..., Environment], tmp_path: Path
) -> None:
    stuck = requested("never-ready")  # no worker runs here: it stays provisioning
    script = Path(sys.executable).parent / "portal"
    environment = {
        **{name: value for name, value in os.environ.items() if not name.startswith("PORTAL_")},
        "PORTAL_CONFIG": str(tmp_path / "config.json"),
        **signed_in(Persona.DEVELOPER),
    }
    waiting = subprocess.Popen(
        [script, "env", "wait", str(stuck.pk), "--interval", "0.5", "--timeout", "120"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=environment,
        # As from a shell: SIGINT at its default, whatever this test process inherited (an ignored SIGINT is
        # inherited across exec, and Python then never raises KeyboardInterrupt).
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    assert waiting.stderr is not None
    following = waiting.stderr.readline()  # the first progress line: it has found the environment and polls
    time.sleep(1)
    waiting.send_signal(signal.SIGINT)
    _out, err = waiting.communicate(timeout=30)

    assert "never-ready: provisioning" in following
    assert waiting.returncode == 130
    assert "Traceback" not in err
    assert err.strip().splitlines() == [
        "Interrupted: the command stopped here; anything the portal had already been asked to do goes on there."
    ]
