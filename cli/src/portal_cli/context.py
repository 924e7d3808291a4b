"""Where each command finds the portal and its token, and the options every command shares."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import click

from portal_cli import config
from portal_cli.api import Client, ExitCode, PortalError

ENV_URL = "PORTAL_URL"
ENV_TOKEN = "PORTAL_TOKEN"  # noqa: S105 (the name of an environment variable, not a secret)

Command = TypeVar("Command", bound=Callable[..., Any])


@dataclass
class Session:
    """What the group's options said; :meth:`client` finds the portal and the token each command uses."""

    url: str | None = None
    json_output: bool = False

    def portal_url(self) -> str | None:
        """The portal's address: ``--url``, else ``PORTAL_URL``, else the one ``portal login`` stored."""
        given = self.url or os.environ.get(ENV_URL, "").strip()
        if given:
            return normal_url(given)
        stored = config.load()
        return stored.url if stored else None

    def credentials(self) -> tuple[str, str, str]:
        """(url, token, where the token came from); not signed in is exit 3 with what to do."""
        url = self.portal_url()
        token = os.environ.get(ENV_TOKEN, "").strip()
        if url and token:
            return url, token, f"the {ENV_TOKEN} environment variable"
        stored = config.load()
        # A stored token goes only to the portal it was made for, never to another --url.
        if stored is not None and (url is None or url == stored.url):
            return stored.url, stored.token, str(config.config_path())
        where = f" to {url}" if url else ""
        raise self.fail(
            PortalError(
                f"Not signed in{where}.",
                ExitCode.NOT_SIGNED_IN,
                details=[
                    "Run `portal login --url <portal address>` (with an API token, or --username for a password),",
                    f"or set {ENV_URL} and {ENV_TOKEN} (as a CI job does).",
                ],
            )
        )

    def client(self) -> Client:
        url, token, _source = self.credentials()
        return Client(url, token, json_output=self.json_output)

    def anonymous(self, url: str) -> Client:
        return Client(url, json_output=self.json_output)

    def fail(self, error: PortalError) -> PortalError:
        error.json_output = self.json_output
        return error


def normal_url(given: str) -> str:
    url = given.strip().rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise click.BadParameter(
            f"{given!r} is not a web address: give it with http:// or https://", param_hint="--url"
        )
    return url


def session() -> Session:
    return click.get_current_context().ensure_object(Session)


def _set_json(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value:
        ctx.ensure_object(Session).json_output = True


def json_option(command: Command) -> Command:
    """``--json`` on a command too, so it may come after the command's name (``portal env list --json``)."""
    return click.option(
        "--json",
        "json_output",
        is_flag=True,
        expose_value=False,
        is_eager=True,
        callback=_set_json,
        help="Print the API's JSON answer instead of a table.",
    )(command)
