"""``portal approvals`` by the team lead, ``portal deploy matrix`` and ``portal costs breakdown``, against a live
portal; and the installed ``.venv/bin/portal`` console script itself."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from approvals.models import ApprovalRequest
from costs.demo import load_demo_costs
from environments.choices import EnvironmentStatus
from environments.models import Environment
from portal.demo import Persona
from tests.cli.conftest import Portal

ROOT = Path(__file__).resolve().parents[2]


def approval_of(environment: Environment) -> ApprovalRequest:
    return ApprovalRequest.objects.get(subject_id=environment.pk, subject_type__model="environment")


def test_a_team_lead_lists_what_waits_then_approves_one_request_and_rejects_another(
    portal: Portal, signed_in: Callable[..., dict[str, str]], requested: Callable[..., Environment]
) -> None:
    approved = requested("release-candidate", template="staging")
    rejected = requested("load-test", template="staging")
    lead = signed_in(Persona.TEAM_LEAD, role="team_lead")

    waiting = portal("approvals", "list", "--json", env=lead)

    assert waiting.exit_code == 0, waiting.stderr
    ids = {approval_of(approved).pk, approval_of(rejected).pk}
    assert {item["id"] for item in waiting.json()} == ids
    assert all(item["can_decide"] for item in waiting.json())
    table = portal("approvals", "list", env=lead)
    assert "Release candidate" in table.stdout or "release-candidate" in table.stdout

    yes = portal("approvals", "approve", str(approval_of(approved).pk), env=lead)
    assert yes.exit_code == 0, yes.stderr
    assert "You approved" in yes.stderr
    no_reason = portal("approvals", "reject", str(approval_of(rejected).pk), env=lead)
    assert no_reason.exit_code == 2  # --reason is required: the requester reads it
    no = portal("approvals", "reject", str(approval_of(rejected).pk), "--reason", "Use the team sandbox.", env=lead)
    assert no.exit_code == 0, no.stderr

    approved.refresh_from_db()
    rejected.refresh_from_db()
    assert approved.status == EnvironmentStatus.PROVISIONING
    assert rejected.status == EnvironmentStatus.REJECTED
    assert approval_of(rejected).decisions.get().reason == "Use the team sandbox."
    assert portal("approvals", "list", "--json", env=lead).json() == []
    # The developer who asked sees both decided among their own requests.
    mine = portal("approvals", "list", "--scope", "mine", "--json", env=signed_in(Persona.DEVELOPER))
    assert {item["status"] for item in mine.json()} == {"approved", "rejected"}


def test_a_developer_cannot_approve_and_is_told_why(
    portal: Portal, signed_in: Callable[..., dict[str, str]], requested: Callable[..., Environment]
) -> None:
    waiting = requested("release-candidate", template="staging", by=Persona.TEAM_LEAD)

    refused = portal("approvals", "approve", str(approval_of(waiting).pk), env=signed_in(Persona.DEVELOPER))

    assert refused.exit_code == 3
    assert refused.stderr.startswith("Error: Not allowed: ")
    assert "Traceback" not in refused.stderr
    waiting.refresh_from_db()
    assert waiting.status == EnvironmentStatus.PENDING_APPROVAL


def test_the_deployment_matrix_and_the_cost_breakdown_as_tables_and_as_json(
    portal: Portal, signed_in: Callable[..., dict[str, str]]
) -> None:
    load_demo_costs()
    ci = signed_in(Persona.DEVELOPER)

    matrix = portal("deploy", "matrix", "--json", env=ci)
    assert matrix.exit_code == 0, matrix.stderr
    services = {row["service"] for row in matrix.json()["rows"]}
    assert services, "the demo deploys services"
    assert all(row["team"] == "student-experience" for row in matrix.json()["rows"])  # the token's team only
    table = portal("deploy", "matrix", env=ci)
    assert table.exit_code == 0, table.stderr
    assert sorted(services)[0] in table.stdout

    costs = portal("costs", "breakdown", "--by", "service", "--json", env=ci)
    assert costs.exit_code == 0, costs.stderr
    assert costs.json()["by"] == "service"
    assert costs.json()["totals"], "the demo has costs"
    shown = portal("costs", "breakdown", "--by", "service", env=ci)
    assert shown.exit_code == 0, shown.stderr
    assert "Total " in shown.stdout
    assert costs.json()["totals"][0]["amount"] in shown.stdout
    bad = portal("costs", "breakdown", "--from", "yesterday", env=ci)
    assert bad.exit_code == 1
    assert "from:" in bad.stderr


def test_the_installed_console_script_answers_help_and_a_real_call(
    live_server: Any, signed_in: Callable[..., dict[str, str]], tmp_path: Path
) -> None:
    script = Path(sys.executable).parent / "portal"
    assert script.exists(), "make install puts the portal console script in the project's .venv/bin"
    environment = {
        **{name: value for name, value in os.environ.items() if not name.startswith("PORTAL_")},
        "PORTAL_CONFIG": str(tmp_path / "config.json"),
        **signed_in(Persona.DEVELOPER),
    }

    helped = subprocess.run([script, "--help"], capture_output=True, text=True, check=False, env=environment)
    assert helped.returncode == 0
    assert "env" in helped.stdout
    assert "approvals" in helped.stdout

    listed = subprocess.run(
        [script, "--json", "deploy", "matrix"], capture_output=True, text=True, check=False, env=environment, cwd=ROOT
    )
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout)["rows"]
