"""``portal``: the command group, signing in and out, and where each command finds the portal and its token."""

from __future__ import annotations

import os
import socket
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import click

from portal_cli import (
    __version__,
    approvals,
    budgets,
    catalogue,
    config,
    dora,
    environments,
    notifications,
    output,
    reports,
    rollbacks,
    savings,
    search,
    tokens,
)
from portal_cli.api import Client, Interrupted, PortalError
from portal_cli.config import Credentials
from portal_cli.context import ENV_TOKEN, ENV_URL, Session, json_option, normal_url, session

DEFAULT_TOKEN_DAYS = 90
TOKEN_NAME_LENGTH = 100


class PortalGroup(click.Group):
    """The root group: an error raised anywhere below is shown as ``--json`` asked (the API's body on stdout)."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except PortalError as error:
            error.json_output = ctx.ensure_object(Session).json_output
            raise
        except KeyboardInterrupt:
            raise Interrupted() from None
        except click.Abort as abort:
            if isinstance(abort.__context__, KeyboardInterrupt):  # Ctrl-C at a prompt (click makes it an Abort)
                raise Interrupted() from None
            raise


@click.group(cls=PortalGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option(
    "--url", metavar="URL", help=f"The portal's address (default: {ENV_URL}, else the one `portal login` stored)."
)
@click.option("--json", "json_output", is_flag=True, help="Print the API's JSON answers instead of tables.")
@click.version_option(__version__, prog_name="portal")
@click.pass_context
def cli(ctx: click.Context, url: str | None, json_output: bool) -> None:
    """The command-line client of Platform Portal: environments, approvals, services, deployments and costs.

    Sign in once with `portal login`, or set PORTAL_URL and PORTAL_TOKEN (CI). Exit codes: 0 done, 1 refused,
    2 wrong command line, 3 not signed in or not allowed, 4 not found, 5 a wait ended otherwise than waited for,
    6 a wait timed out, 7 the portal unreachable or failing, 130 interrupted (Ctrl-C). The manual: docs/cli.md.
    """
    state = ctx.ensure_object(Session)
    state.url = normal_url(url) if url else None
    state.json_output = state.json_output or json_output


# --- signing in -----------------------------------------------------------------------------------------


def _token_prefix(token: str) -> str:
    """The ``<prefix>`` of a ``ppt_<prefix>_<secret>`` API token (how the portal's token list names it)."""
    return token.removeprefix("ppt_").partition("_")[0] if token.startswith("ppt_") else ""


def token_record(client: Client, token: str) -> dict[str, Any] | None:
    """The portal's record of ``token`` (its name, team, role, expiry), found among its owner's tokens."""
    prefix = _token_prefix(token)
    if not prefix:
        client.get("/api/tokens/", {"page_size": 1})  # a JWT: check it works, there is no record to show
        return None
    for record in client.get_all("/api/tokens/"):
        if record.get("prefix") == prefix:
            return dict(record)
    return None


def _describe_token(record: dict[str, Any] | None) -> str:
    if record is None:
        return "a token"
    return (
        f"the API token “{record.get('name')}” ({record.get('role')} on {record.get('team')}, "
        f"expires {output.words(record.get('expires_at'))})"
    )


@cli.command()
@click.option("--url", "login_url", metavar="URL", help="The portal's address (default: as for every command).")
@click.option("--token", help="An API token (ppt_…) made on the portal's API tokens page; `-` reads it from stdin.")
@click.option("--username", help="Sign in with this local account's password instead: a token is made for you.")
@click.option("--password", help="The password (asked for, unseen, when not given).")
@click.option("--code", help="The two-factor code of the account, if it has two-factor authentication.")
@click.option(
    "--team", help="With --username: the team (slug) the new token acts for (default: your one team with --role)."
)
@click.option("--role", default="developer", show_default=True, help="With --username: the role the token carries.")
@click.option(
    "--days", type=click.IntRange(1, 365), default=DEFAULT_TOKEN_DAYS, show_default=True, help="Days the token lives."
)
@click.option("--token-name", help="With --username: the new token's name (default: this machine and the time).")
@json_option
def login(
    login_url: str | None,
    token: str | None,
    username: str | None,
    password: str | None,
    code: str | None,
    team: str | None,
    role: str,
    days: int,
    token_name: str | None,
) -> None:
    """Sign in and remember it (in your config directory, readable by you only).

    With an API token (--token, or pasted when asked), which is checked and stored. Or with --username and
    the password: the portal gives a short-lived JWT, which makes a named API token for --team and --role
    (revoked by `portal logout`, listed on the API tokens page); only that token is stored, and the JWT is
    signed out at once. CI jobs need no login: they set PORTAL_URL and PORTAL_TOKEN.
    """
    state = session()
    url = normal_url(login_url) if login_url else state.portal_url()
    if url is None:
        raise click.UsageError("Give the portal's address with --url (or PORTAL_URL).")
    if token and username:
        raise click.UsageError("Give either --token or --username, not both.")
    record: dict[str, Any] | None
    if username:
        credentials, record = _sign_in_with_password(
            state, url, username, password=password, code=code, team=team, role=role, days=days, name=token_name
        )
    else:
        if token == "-":  # noqa: S105 (stdin, not a password)
            token = sys.stdin.readline().strip()
        elif not token:
            token = click.prompt("API token", hide_input=True).strip()
        if not token:
            raise click.UsageError("The API token is empty.")
        with Client(url, token, json_output=state.json_output) as client:
            record = token_record(client, token)
        credentials = Credentials(url=url, token=token, token_name=str((record or {}).get("name") or ""))
    path = config.save(credentials)
    if state.json_output:
        output.print_json({"url": url, "config": str(path), "token": record})
        return
    output.say(f"Signed in to {url} with {_describe_token(record)}.")
    output.say(f"Stored in {path} (readable by you only).")


def _sign_in_with_password(
    state: Session,
    url: str,
    username: str,
    *,
    password: str | None,
    code: str | None,
    team: str | None,
    role: str,
    days: int,
    name: str | None,
) -> tuple[Credentials, dict[str, Any]]:
    if password is None:
        password = click.prompt("Password", hide_input=True)
    with state.anonymous(url) as anonymous:
        pair = _jwt_pair(anonymous, username, password, code)
        expires = datetime.now(UTC) + timedelta(days=days)
        name = name or f"portal CLI on {socket.gethostname()} {datetime.now(UTC):%Y-%m-%d %H:%M:%S} UTC"
        try:
            with Client(url, pair["access"], json_output=state.json_output) as signed_in:
                team = team or _only_team(signed_in, role)
                created = signed_in.post(
                    "/api/tokens/",
                    {"name": name[:TOKEN_NAME_LENGTH], "team": team, "role": role, "expires_at": expires.isoformat()},
                )
        finally:
            # The pair was only the way to make the token: sign it out now (it would live a day otherwise).
            try:
                anonymous.post("/api/auth/token/revoke/", {"refresh": pair["refresh"]})
            except PortalError:
                output.note("Could not sign the short-lived JWT out; it expires by itself.")
    secret = str(created.pop("token"))
    credentials = Credentials(
        url=url, token=secret, token_id=created.get("id"), token_name=str(created.get("name")), username=username
    )
    return credentials, created


def _only_team(client: Client, role: str) -> str:
    """The one team where a token of the signed-in person may carry ``role``; asked for when there are several."""
    teams = client.get("/api/auth/me/").get("teams") or []
    offering = [team for team in teams if role in (team.get("token_roles") or [])]
    if len(offering) == 1:
        return str(offering[0]["slug"])
    places = "; ".join(f"{team['slug']} ({', '.join(team.get('token_roles') or []) or 'no role'})" for team in teams)
    if not offering:
        raise click.UsageError(
            f"You hold the {role} role on none of your teams ({places or 'you are in no team'}): choose --role."
        )
    raise click.UsageError(f"Choose the team the token acts for with --team: {places}.")


def _jwt_pair(client: Client, username: str, password: str, code: str | None) -> dict[str, str]:
    body = {"username": username, "password": password, **({"code": code} if code else {})}
    try:
        pair = client.post("/api/auth/token/", body)
    except PortalError as error:
        needs_code = isinstance(error.body, dict) and error.body.get("error", {}).get("code") == "mfa_code_required"
        if not (needs_code and code is None and sys.stdin.isatty()):
            raise
        body["code"] = click.prompt("Two-factor code")
        pair = client.post("/api/auth/token/", body)
    return {"access": str(pair["access"]), "refresh": str(pair["refresh"])}


@cli.command()
@json_option
def logout() -> None:
    """Forget the stored sign-in; a token that `portal login --username` made is revoked on the portal too."""
    stored = config.load()
    revoked = False
    if stored is not None and stored.token_id is not None:
        try:
            with Client(stored.url, stored.token) as client:
                client.delete(f"/api/tokens/{stored.token_id}/")
            revoked = True
        except PortalError as error:
            output.note(
                f"Could not revoke the token on the portal ({error.message}); revoke it on its API tokens page."
            )
    forgotten = config.forget()
    if session().json_output:
        output.print_json({"forgotten": forgotten, "revoked": revoked})
        return
    if not forgotten:
        output.say("Not signed in: nothing stored to forget.")
    else:
        output.say("Signed out" + (": the token is revoked and forgotten." if revoked else ": the token is forgotten."))
    if os.environ.get(ENV_TOKEN):
        output.note(f"{ENV_TOKEN} is still set in this environment and is used while it is.")


@cli.command()
@json_option
def whoami() -> None:
    """Which portal, and which token, the commands use (and whether the portal accepts it)."""
    state = session()
    url, token, source = state.credentials()
    with Client(url, token, json_output=state.json_output) as client:
        record = token_record(client, token)
        me = client.get("/api/auth/me/")
    if state.json_output:
        output.print_json({"url": url, "source": source, "token": record, "me": me})
        return
    teams = ", ".join(f"{team['slug']} ({team['membership']})" for team in me.get("teams") or []) or "none"
    admin = ", platform admin" if me.get("platform_admin") else ""
    output.fields(
        [
            ("portal", url),
            ("you", f"{me.get('name')} ({me.get('username')}){admin}"),
            ("your teams", teams),
            ("signed in with", _describe_token(record)),
            ("from", source),
        ]
    )


cli.add_command(environments.env)
cli.add_command(approvals.approvals)
cli.add_command(reports.deploy)
for command in rollbacks.COMMANDS + dora.COMMANDS:
    reports.deploy.add_command(command)
cli.add_command(reports.costs)
for group in catalogue.GROUPS:
    cli.add_command(group)
for command in savings.COMMANDS + budgets.COMMANDS:
    reports.costs.add_command(command)
cli.add_command(notifications.notifications)
cli.add_command(search.search)
cli.add_command(tokens.tokens)


def main() -> None:
    cli(prog_name="portal")
