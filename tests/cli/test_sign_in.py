"""Signing in with ``portal login`` (an API token, or a password that makes one), signing out, and what a
command says when it has no credentials, bad ones, or no portal to reach."""

from __future__ import annotations

import json
import socket
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

from access.models import ApiToken, AuditEvent
from environments.models import Environment
from portal.demo import DEMO_PASSWORD, Persona
from tests.cli.conftest import Portal, TokenFor


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_signing_in_with_a_token_stores_it_for_its_owner_only_and_never_prints_it(
    portal: Portal, live_server: Any, token_for: TokenFor, config_file: Path, requested: Callable[..., Environment]
) -> None:
    requested("checkout-preview")
    token = token_for(Persona.DEVELOPER)

    ran = portal("login", "--url", live_server.url, "--token", token)

    assert ran.exit_code == 0, ran.stderr
    assert "developer on student-experience" in ran.stdout
    assert token not in ran.stdout + ran.stderr
    assert mode_of(config_file) == 0o600
    assert json.loads(config_file.read_text())["token"] == token
    whoami = portal("whoami", "--json")
    assert whoami.exit_code == 0, whoami.stderr
    assert whoami.json()["url"] == live_server.url
    assert whoami.json()["token"]["team"] == "student-experience"
    listed = portal("env", "list", "--json")
    assert listed.exit_code == 0, listed.stderr
    assert [environment["name"] for environment in listed.json()] == ["checkout-preview"]


def test_a_token_the_portal_refuses_is_not_stored_and_exits_3(
    portal: Portal, live_server: Any, token_for: TokenFor, config_file: Path
) -> None:
    token_for(Persona.DEVELOPER)
    ran = portal("login", "--url", live_server.url, "--token", "ppt_0123abcd_not-the-secret")

    assert ran.exit_code == 3
    assert "The API token is not valid." in ran.stderr
    assert not config_file.exists()


def test_signing_in_with_a_password_stores_a_new_named_token_only_and_logout_revokes_it(
    portal: Portal, live_server: Any, demo: None, config_file: Path
) -> None:
    # No --team: the developer's one team where they may give a token the developer role.
    ran = portal("login", "--url", live_server.url, "--username", "developer", input=f"{DEMO_PASSWORD}\n")

    assert ran.exit_code == 0, ran.stderr
    assert mode_of(config_file) == 0o600
    stored = json.loads(config_file.read_text())
    token = ApiToken.objects.get(owner__username="developer", pk=stored["token_id"])
    assert (token.team.slug, token.role.slug, token.revoked_at) == ("student-experience", "developer", None)
    assert stored["token"].startswith(f"ppt_{token.prefix}_")
    assert stored["token"] not in ran.stdout + ran.stderr
    assert DEMO_PASSWORD not in config_file.read_text()
    assert set(stored) == {"url", "token", "token_id", "token_name", "username"}  # no JWT is kept
    # The JWT that made the token was signed out at once.
    assert AuditEvent.objects.filter(verb="auth.jwt_revoked", actor__username="developer").exists()
    assert portal("env", "list").exit_code == 0
    who = portal("whoami")
    assert who.exit_code == 0, who.stderr
    assert "student-experience (member)" in who.stdout

    out = portal("logout")

    assert out.exit_code == 0, out.stderr
    assert "revoked" in out.stdout
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert not config_file.exists()
    again = portal("env", "list")
    assert again.exit_code == 3


def test_a_wrong_password_exits_3_in_words_and_stores_nothing(
    portal: Portal, live_server: Any, demo: None, config_file: Path
) -> None:
    ran = portal(
        "login", "--url", live_server.url, "--username", "developer", "--password", "wrong",
        "--team", "student-experience",
    )  # fmt: skip

    assert ran.exit_code == 3
    assert "Not signed in" in ran.stderr
    assert "Traceback" not in ran.stderr
    assert not config_file.exists()


def test_a_password_sign_in_for_a_role_one_does_not_hold_is_refused_with_the_reason(
    portal: Portal, live_server: Any, demo: None, config_file: Path
) -> None:
    ran = portal(
        "login", "--url", live_server.url, "--username", "developer", "--password", DEMO_PASSWORD,
        "--team", "student-experience", "--role", "team_lead",
    )  # fmt: skip

    assert ran.exit_code == 1
    assert "--role: You cannot give a token the" in ran.stderr
    assert "environments.approve" in ran.stderr
    assert not config_file.exists()
    assert not ApiToken.objects.filter(owner__username="developer").exists()


def test_a_command_without_credentials_exits_3_and_says_how_to_sign_in(portal: Portal) -> None:
    ran = portal("env", "list")

    assert ran.exit_code == 3
    assert "Not signed in." in ran.stderr
    assert "portal login" in ran.stderr
    assert "PORTAL_TOKEN" in ran.stderr


def test_a_stored_token_is_never_sent_to_another_portal(portal: Portal, live_server: Any, token_for: TokenFor) -> None:
    assert portal("login", "--url", live_server.url, "--token", token_for(Persona.DEVELOPER)).exit_code == 0

    ran = portal("--url", "http://portal.invalid", "env", "list")

    assert ran.exit_code == 3
    assert "Not signed in to http://portal.invalid." in ran.stderr


def test_an_unreachable_portal_exits_7_with_its_address(portal: Portal) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        address = f"http://127.0.0.1:{probe.getsockname()[1]}"

    ran = portal("env", "list", env={"PORTAL_URL": address, "PORTAL_TOKEN": "ppt_0123abcd_secret"})

    assert ran.exit_code == 7
    assert f"Cannot reach the portal at {address}" in ran.stderr
