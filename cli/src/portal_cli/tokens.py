"""``portal tokens list|create|revoke``: your API tokens, as on the portal's API tokens page.

A new token's secret is printed once (on stdout, so a script can capture it) and kept nowhere by ``portal``
unless ``--login`` asks to sign in with it. The portal lets no API token make API tokens: ``create`` signs in
for that one call with ``--username`` (your password is asked, unseen) or uses a JWT in PORTAL_TOKEN.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import click

from portal_cli import config, output
from portal_cli.api import Client, PortalError
from portal_cli.config import Credentials
from portal_cli.context import json_option, session

TOKENS = "/api/tokens/"
DEFAULT_DAYS = 90
NAME_LENGTH = 100


@click.group()
def tokens() -> None:
    """Your API tokens for automation: list them, make one (its secret shown once), revoke one."""


@tokens.command("list")
@click.option("--active", is_flag=True, help="Only tokens that still work (not revoked, not expired).")
@json_option
def list_tokens(active: bool) -> None:
    """Your API tokens, with the team and role each acts with and when each was last used."""
    state = session()
    with state.client() as client:
        found = client.get_all(TOKENS)
    if active:
        found = [token for token in found if token.get("is_active")]
    if state.json_output:
        output.print_json(found)
        return
    if not found:
        output.say("You have no API token." if not active else "You have no working API token.")
        return
    output.table(
        ["id", "name", "prefix", "team", "role", "expires", "last used", "works"],
        (
            [
                token.get("id"),
                token.get("name"),
                token.get("prefix"),
                token.get("team"),
                token.get("role"),
                token.get("expires_at"),
                token.get("last_used_at"),
                token.get("is_active") if not token.get("revoked_at") else "revoked",
            ]
            for token in found
        ),
    )


def _expiry(expires: str | None, days: int | None) -> datetime:
    """When the new token stops working: --expires (a date: its start, UTC; or a moment), else --days from now."""
    if expires and days is not None:
        raise click.UsageError("Give --expires or --days, not both.")
    if not expires:
        return datetime.now(UTC) + timedelta(days=days or DEFAULT_DAYS)
    try:
        if len(expires) == 10:
            return datetime.combine(date.fromisoformat(expires), time.min, tzinfo=UTC)
        moment = datetime.fromisoformat(expires.replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(
            f"{expires!r} is not a date: give it as 2027-03-01 (or a moment, 2027-03-01T18:00:00Z).",
            param_hint="--expires",
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@tokens.command()
@click.argument("name")
@click.option("--team", help="The team (slug) it acts for (default: your one team where you hold --role).")
@click.option("--role", default="developer", show_default=True, help="The role it carries: at most what you hold.")
@click.option("--expires", metavar="DATE", help="When it stops working: a date (2027-03-01, UTC) or a moment.")
@click.option("--days", type=click.IntRange(1, 3650), help=f"Or: days it lives (default {DEFAULT_DAYS}).")
@click.option("--username", help="Sign in with this local account for this call (an API token cannot make tokens).")
@click.option("--password", help="The password (asked for, unseen, when not given).")
@click.option("--code", help="The two-factor code of the account, if it has two-factor authentication.")
@click.option("--login", "sign_in", is_flag=True, help="Also sign `portal` in with the new token (stored).")
@json_option
def create(
    name: str,
    team: str | None,
    role: str,
    expires: str | None,
    days: int | None,
    username: str | None,
    password: str | None,
    code: str | None,
    sign_in: bool,
) -> None:
    """Make an API token NAME; its secret is printed once, here, and kept nowhere unless --login."""
    from portal_cli.main import _jwt_pair, _only_team  # the same sign-in as `portal login --username`

    state = session()
    expires_at = _expiry(expires, days)
    body: dict[str, Any] = {"name": name[:NAME_LENGTH], "role": role, "expires_at": expires_at.isoformat()}
    if username:
        url = state.portal_url()
        if url is None:
            raise click.UsageError("Give the portal's address with --url (or PORTAL_URL).")
        if password is None:
            password = click.prompt("Password", hide_input=True)
        with state.anonymous(url) as anonymous:
            pair = _jwt_pair(anonymous, username, password, code)
            try:
                with Client(url, pair["access"], json_output=state.json_output) as client:
                    created = client.post(TOKENS, {**body, "team": team or _only_team(client, role)})
            finally:
                try:
                    anonymous.post("/api/auth/token/revoke/", {"refresh": pair["refresh"]})
                except PortalError:
                    output.note("Could not sign the short-lived JWT out; it expires by itself.")
    else:
        url, token, _source = state.credentials()
        if token.startswith("ppt_"):
            raise click.UsageError(
                "An API token cannot make API tokens: give --username (your password is asked for this one call), "
                "or make it on the portal's API tokens page."
            )
        with state.client() as client:
            created = client.post(TOKENS, {**body, "team": team or _only_team(client, role)})
    if sign_in:
        config.save(
            Credentials(url=url, token=str(created["token"]), token_id=created.get("id"), token_name=name, username="")
        )
    if state.json_output:
        output.print_json(created)
        return
    output.note(
        f"Made the API token “{created.get('name')}” (id {created.get('id')}): {created.get('role')} on "
        f"{created.get('team')}, until {output.words(created.get('expires_at'))}."
    )
    output.note(
        "Signed in with it." if sign_in else "Its secret, shown only now (store it safely; `portal` kept no copy):"
    )
    click.echo(created["token"])


@tokens.command()
@click.argument("token", type=click.IntRange(1, None))
@json_option
def revoke(token: int) -> None:
    """Revoke TOKEN (its id, from `portal tokens list`) now; whatever uses it is refused from then on."""
    state = session()
    with state.client() as client:
        revoked = client.delete(f"{TOKENS}{token}/")
    if state.json_output:
        output.print_json(revoked)
        return
    output.say(f"Revoked the API token “{revoked.get('name')}” (id {revoked.get('id')}).")
    stored = config.load()
    if stored is not None and stored.token_id == token:
        output.note("That is the token `portal` signs in with: sign in again with `portal login`.")
