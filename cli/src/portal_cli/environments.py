"""``portal env``: request, list, show, extend, cancel, retry, tear down and wait for environments.

An environment is named on the command line by its id (``42``) or as ``<team>/<name>``
(``student-experience/pr-123``): a name is unique in its team among live environments, so a CI job that made
``pr-123`` finds it again by name. Every action sends an ``Idempotency-Key``: a fresh one per run, or
``--idempotency-key`` so that a re-run CI job does not act (or request) twice.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import click
from rich.status import Status

from portal_cli import output
from portal_cli.api import Client, ExitCode, PortalError, Revalidated
from portal_cli.context import json_option, session

ENVIRONMENTS = "/api/environments/"
TEMPLATES = "/api/environment-templates/"
WORKFLOW_RUNS = "/api/workflow-runs/"
ENDED = frozenset({"rejected", "torn_down", "cancelled"})
# Where a wait stops: the environment will not move from these by itself.
FINAL = frozenset({"ready", "failed", *ENDED})
WAIT_FOR = {"ready": "ready", "torn-down": "torn_down"}
DEFAULT_TIMEOUT = 30 * 60
DEFAULT_INTERVAL = 3.0
LIST_COLUMNS = ["id", "team/name", "template", "status", "region", "expires", "estimate a month"]


# --- naming an environment ------------------------------------------------------------------------------


def resolve(client: Client, reference: str) -> dict[str, Any]:
    """The environment named by ``reference``: an id, or ``<team>/<name>`` (its live one; else its newest)."""
    reference = reference.strip()
    if reference.isdigit():
        return dict(client.get(f"{ENVIRONMENTS}{reference}/"))
    team, separator, name = reference.partition("/")
    if not separator or not team or not name:
        raise click.BadParameter(f"{reference!r}: name an environment by its id or as <team>/<name>.")
    found = find_by_name(client, team, name)
    if found is None:
        raise PortalError(
            f"No environment named {name} in the team {team} that you may see.",
            ExitCode.NOT_FOUND,
        )
    return found


def find_by_name(client: Client, team: str, name: str, *, live_only: bool = False) -> dict[str, Any] | None:
    """A team's environment of that name: the live one (a name is unique among those), else the newest ended one."""
    try:
        candidates = client.get_all(ENVIRONMENTS, {"team": team, "q": name})
    except PortalError as error:
        if error.exit_code == ExitCode.REFUSED:  # the team filter refuses a team one may not see
            raise PortalError(f"No team {team} that you may see.", ExitCode.NOT_FOUND, body=error.body) from error
        raise
    named = [environment for environment in candidates if environment.get("name") == name]
    live = [environment for environment in named if environment.get("status") not in ENDED]
    if live:
        return dict(live[0])
    if live_only or not named:
        return None
    newest: dict[str, Any] = max(named, key=lambda environment: int(environment.get("id") or 0))
    return newest


def cluster_id(client: Client, given: str) -> int:
    """A cluster's id from ``--cluster``: its id, or its name (the one cluster of that name one may see)."""
    if given.isdigit():
        return int(given)
    matching = [cluster for cluster in client.get_all("/api/clusters/") if cluster.get("name") == given]
    if not matching:
        raise PortalError(f"No cluster named {given} that you may see.", ExitCode.NOT_FOUND)
    if len(matching) > 1:
        ids = ", ".join(str(cluster.get("id")) for cluster in matching)
        raise click.BadParameter(f"Several clusters are named {given}; give one's id ({ids}).", param_hint="--cluster")
    return int(matching[0]["id"])


# --- printing --------------------------------------------------------------------------------------------


def _row(environment: dict[str, Any]) -> list[Any]:
    return [
        environment.get("id"),
        f"{environment.get('team')}/{environment.get('name')}",
        environment.get("template"),
        environment.get("status"),
        environment.get("region"),
        environment.get("expires_at"),
        output.money(environment.get("monthly_estimate"), environment.get("currency")),
    ]


def show_environment(environment: dict[str, Any]) -> None:
    if session().json_output:
        output.print_json(environment)
        return
    output.fields(
        [
            ("environment", f"{environment.get('team')}/{environment.get('name')} (id {environment.get('id')})"),
            ("status", environment.get("status")),
            ("template", environment.get("template")),
            ("tier", environment.get("tier")),
            ("size", environment.get("size")),
            ("region", environment.get("region")),
            ("cluster", environment.get("cluster")),
            ("approver", environment.get("approver")),
            ("estimate a month", output.money(environment.get("monthly_estimate"), environment.get("currency"))),
            ("expires", environment.get("expires_at") or "never"),
            ("requested by", environment.get("requested_by")),
            ("requested", environment.get("created_at")),
            ("updated", environment.get("updated_at")),
        ]
    )


# --- following an environment to the end -----------------------------------------------------------------


@dataclass
class Step:
    """The latest step of the environment's latest workflow run, as the progress line shows it."""

    position: int
    of: int
    name: str
    status: str

    def __str__(self) -> str:
        return f"step {self.position} of {self.of}: {self.name} ({self.status.replace('_', ' ')})"


class WorkflowSteps:
    """Reads the environment's workflow runs, if the portal has that endpoint; quietly nothing if not."""

    def __init__(self, client: Client, environment_id: int) -> None:
        self.client = client
        self.environment_id = environment_id
        self.available = True

    def latest(self) -> Step | None:
        if not self.available:
            return None
        try:
            answer = self.client.get(WORKFLOW_RUNS, {"subject_type": "environment", "subject_id": self.environment_id})
        except PortalError as error:
            if error.exit_code in (ExitCode.NOT_FOUND, ExitCode.NOT_SIGNED_IN, ExitCode.REFUSED):
                self.available = False  # a portal without the endpoint, or not for this caller: stop asking
            return None
        runs = answer.get("results", []) if isinstance(answer, dict) else answer
        runs = [run for run in runs or [] if isinstance(run, dict)]
        if not runs:
            return None
        run = max(runs, key=lambda run: run.get("id") or 0)
        steps = sorted((step for step in run.get("steps") or [] if isinstance(step, dict)), key=_position)
        if not steps:
            return None
        current = next((step for step in steps if step.get("status") == "running"), None)
        if current is None:
            begun = [step for step in steps if step.get("status") not in ("pending", None, "")]
            current = begun[-1] if begun else steps[0]
        return Step(_position(current), len(steps), str(current.get("name") or ""), str(current.get("status") or ""))


def _position(step: dict[str, Any]) -> int:
    position = step.get("position")
    return position if isinstance(position, int) else 0


class Progress:
    """One progress line on stderr: redrawn in place on a terminal, a new line per change in a CI log."""

    def __init__(self) -> None:
        self.console = output.console(stderr=True)
        self.live: Status | None = self.console.status("") if self.console.is_terminal else None
        self.last = ""
        if self.live is not None:
            self.live.start()

    def update(self, environment: dict[str, Any], elapsed: float, step: Step | None) -> None:
        minutes, seconds = divmod(int(elapsed), 60)
        words = output.words(environment.get("status"))
        detail = f" · {step}" if step is not None else ""
        line = f"{environment.get('team')}/{environment.get('name')}: {words}{detail}"
        if self.live is not None:
            self.live.update(f"{line} · {minutes}:{seconds:02d}")
        elif line != self.last:
            self.console.print(f"[{minutes}:{seconds:02d}] {line}", markup=False, highlight=False)
        self.last = line

    def stop(self) -> None:
        if self.live is not None:
            self.live.stop()


def follow(
    client: Client,
    environment: dict[str, Any],
    *,
    until: str,
    timeout: float,
    interval: float,
    clock: Callable[[], float] = time.monotonic,
) -> dict[str, Any]:
    """Poll the environment until it reaches ``until`` (returned), another final status (exit 5) or the timeout
    (exit 6). Each poll revalidates with the last ``ETag``, so an unchanged environment costs a bodiless 304."""
    started = clock()
    steps = WorkflowSteps(client, int(environment["id"]))
    path = f"{ENVIRONMENTS}{environment['id']}/"
    latest = Revalidated(environment, "")
    progress = Progress()
    try:
        while True:
            current = latest.data
            status = current.get("status")
            elapsed = clock() - started
            progress.update(current, elapsed, steps.latest() if status not in FINAL else None)
            if status == until:
                return dict(current)
            if status in FINAL:
                raise PortalError(
                    f"{current.get('team')}/{current.get('name')} ended {output.words(status)}, "
                    f"not {output.words(until)}.",
                    ExitCode.WAIT_FAILED,
                    details=_failure_details(steps, status),
                    body=current,
                )
            if elapsed >= timeout:
                raise PortalError(
                    f"Gave up waiting after {int(timeout)} seconds: {current.get('team')}/{current.get('name')} is "
                    f"still {output.words(status)}.",
                    ExitCode.TIMEOUT,
                    details=["Wait longer with `portal env wait` (--timeout), or see it on the portal."],
                    body=current,
                )
            time.sleep(max(0.0, min(interval, timeout - elapsed)))
            latest = client.get_revalidated(path, latest)
    except PortalError as error:
        error.json_output = session().json_output
        raise
    finally:
        progress.stop()


def _failure_details(steps: WorkflowSteps, status: str) -> list[str]:
    if status != "failed":
        return []
    step = steps.latest()
    hints = [f"The last step: {step}."] if step is not None else []
    return [*hints, "`portal env retry <environment>` resumes it at its failed step."]


# --- commands --------------------------------------------------------------------------------------------


def idempotency_option(command: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--idempotency-key",
        metavar="KEY",
        default=lambda: str(uuid.uuid4()),
        show_default=False,
        help="Sent as Idempotency-Key: the same key again acts once and answers as the first time (default: a "
        "fresh one). Give one that a re-run CI job repeats, e.g. the pipeline's id.",
    )(command)


def wait_options(command: Callable[..., Any]) -> Callable[..., Any]:
    command = click.option(
        "--interval",
        type=click.FloatRange(0.2, 60),
        default=DEFAULT_INTERVAL,
        show_default=True,
        help="Seconds between two looks while waiting.",
    )(command)
    return click.option(
        "--timeout",
        type=click.FloatRange(0, None),
        default=DEFAULT_TIMEOUT,
        show_default=True,
        help="Seconds to wait at most (then exit 6).",
    )(command)


@click.group()
def env() -> None:
    """Environments: request, follow, extend and tear down."""


@env.command("request")
@click.option("--team", required=True, help="The team's slug, e.g. student-experience.")
@click.option("--template", required=True, help="The template's slug, e.g. preview.")
@click.option("--cluster", required=True, help="The cluster's id or name, e.g. eks-eu-west-1.")
@click.option("--name", required=True, help="The environment's name (a DNS label, unique in the team).")
@click.option("--size", type=click.Choice(["S", "M", "L"]), default="S", show_default=True)
@click.option("--ttl-hours", type=click.IntRange(1, None), help="Lifetime in hours (default: the template's).")
@click.option(
    "--if-missing",
    is_flag=True,
    help="If the team has a live environment of this name, use it (and --wait for it) instead of requesting.",
)
@click.option("--check", "check_only", is_flag=True, help="Only ask what the request would meet and cost.")
@idempotency_option
@click.option("--wait", "wait_ready", is_flag=True, help="Follow it until ready (or another end: exit 5).")
@wait_options
@json_option
def request(
    team: str,
    template: str,
    cluster: str,
    name: str,
    size: str,
    ttl_hours: int | None,
    if_missing: bool,
    check_only: bool,
    idempotency_key: str,
    wait_ready: bool,
    timeout: float,
    interval: float,
) -> None:
    """Request an environment (allowed at once, held for approval, or refused with the reasons: exit 1)."""
    state = session()
    with state.client() as client:
        existing = find_by_name(client, team, name, live_only=True) if if_missing else None
        if existing is not None:
            if not state.json_output:
                output.note(f"{team}/{name} exists already (id {existing['id']}, {output.words(existing['status'])}).")
            environment = existing
        else:
            body: dict[str, Any] = {
                "team": team,
                "template": template,
                "cluster": cluster_id(client, cluster),
                "name": name,
                "size": size,
                **({"ttl_hours": ttl_hours} if ttl_hours is not None else {}),
            }
            if check_only:
                _print_check(client.post(f"{ENVIRONMENTS}check/", body))
                return
            answer = client.post_answer(ENVIRONMENTS, body, idempotency_key=idempotency_key)
            environment = answer.json()
            if not state.json_output:
                verb = "Requested" if answer.status_code == 201 else "Already requested with this key:"
                output.note(f"{verb} {team}/{name} (id {environment['id']}): {output.words(environment['status'])}.")
                if environment.get("status") == "pending_approval":
                    output.note(f"It waits for the approval of a {output.words(environment.get('approver'))}.")
        if wait_ready:
            environment = follow(client, environment, until="ready", timeout=timeout, interval=interval)
    show_environment(environment)


def _print_check(check: dict[str, Any]) -> None:
    if session().json_output:
        output.print_json(check)
    else:
        outcome = {"allowed": "allowed", "needs_approval": "needs approval", "refused": "refused"}
        output.fields(
            [
                ("outcome", outcome.get(str(check.get("outcome")), check.get("outcome"))),
                ("approver", check.get("approver")),
                ("estimate a month", output.money(check.get("monthly_estimate"), check.get("currency"))),
                ("environments left", check.get("environments_left")),
                ("budget left after", check.get("budget_left_after")),
            ]
        )
        for reason in check.get("reasons") or []:
            output.say(f"  - {reason}")
        for warning in check.get("warnings") or []:
            output.say(f"  ! {warning}")
    if check.get("outcome") == "refused":
        raise PortalError("The portal would refuse this request.", ExitCode.REFUSED)


@env.command("list")
@click.option("--team", help="Only this team's (slug).")
@click.option(
    "--status",
    type=click.Choice(
        ["pending_approval", "provisioning", "ready", "failed", "rejected", "tearing_down", "torn_down", "cancelled"]
    ),
)
@click.option("--search", help="Names, teams or templates containing this.")
@click.option("--mine", is_flag=True, help="Only those you asked for.")
@click.option("--limit", type=click.IntRange(1, 5000), default=50, show_default=True, help="At most this many.")
@json_option
def list_environments(team: str | None, status: str | None, search: str | None, mine: bool, limit: int) -> None:
    """Environments you may see, newest request first."""
    state = session()
    params = {"team": team, "status": status, "q": search, "mine": "1" if mine else None}
    with state.client() as client:
        found = client.get_all(ENVIRONMENTS, {key: value for key, value in params.items() if value}, limit=limit)
    if state.json_output:
        output.print_json(found)
    elif not found:
        output.say("No environment matches.")
    else:
        output.table(LIST_COLUMNS, (_row(environment) for environment in found))


@env.command("templates")
@json_option
def templates() -> None:
    """The templates an environment can be requested from: tier, lifetime, approval and add-ons."""
    state = session()
    with state.client() as client:
        found = client.get_all(TEMPLATES, {}, limit=500)
    if state.json_output:
        output.print_json(found)
    elif not found:
        output.say("No template is available to you.")
    else:
        output.table(
            ["template", "name", "tier", "lifetime (h)", "at most (h)", "approval", "PostgreSQL", "Redis"],
            (
                [
                    template["slug"],
                    template["name"],
                    template["tier"],
                    template.get("default_ttl_hours") or "never expires",
                    template.get("max_ttl_hours") or "",
                    output.words(template.get("approval")) if template.get("approval") != "none" else "none",
                    template.get("postgresql_size") or "",
                    template.get("redis_size") or "",
                ]
                for template in found
            ),
        )


@env.command()
@click.argument("environment")
@json_option
def show(environment: str) -> None:
    """One environment, by id or as <team>/<name>."""
    with session().client() as client:
        show_environment(resolve(client, environment))


@env.command()
@click.argument("environment")
@click.option("--hours", type=click.IntRange(1, 24 * 366), required=True, help="How many hours later it expires.")
@idempotency_option
@json_option
def extend(environment: str, hours: int, idempotency_key: str) -> None:
    """Push an environment's expiry later (within its template's maximum lifetime from now)."""
    with session().client() as client:
        found = resolve(client, environment)
        extended = client.post(
            f"{ENVIRONMENTS}{found['id']}/extend/", {"hours": hours}, idempotency_key=idempotency_key
        )
    if not session().json_output:
        output.note(f"{extended['team']}/{extended['name']} now expires {output.words(extended.get('expires_at'))}.")
    show_environment(extended)


def _act(
    action: str, environment: str, idempotency_key: str, *, missing_ok: bool = False
) -> tuple[Client, dict[str, Any] | None]:
    client = session().client()
    try:
        found = resolve(client, environment)
    except PortalError as error:
        if missing_ok and error.exit_code == ExitCode.NOT_FOUND:
            return client, None
        client.close()
        raise
    return client, client.post(f"{ENVIRONMENTS}{found['id']}/{action}/", idempotency_key=idempotency_key)


@env.command()
@click.argument("environment")
@click.option(
    "--missing-ok", is_flag=True, help="No such environment, or one already ended, is success (exit 0), not exit 4."
)
@idempotency_option
@click.option("--wait", "wait_gone", is_flag=True, help="Follow it until torn down (or another end: exit 5).")
@wait_options
@json_option
def teardown(
    environment: str, missing_ok: bool, idempotency_key: str, wait_gone: bool, timeout: float, interval: float
) -> None:
    """Tear an environment down (asking again while it is torn down changes nothing)."""
    state = session()
    if missing_ok and "/" in environment:
        with state.client() as client:
            team, _, name = environment.partition("/")
            if find_by_name(client, team, name, live_only=True) is None:
                _nothing_to_tear_down(environment)
                return
    client, acted = _act("teardown", environment, idempotency_key, missing_ok=missing_ok)
    with client:
        if acted is None:
            _nothing_to_tear_down(environment)
            return
        if not state.json_output:
            output.note(f"Tearing down {acted['team']}/{acted['name']}: {output.words(acted['status'])}.")
        if wait_gone:
            acted = follow(client, acted, until="torn_down", timeout=timeout, interval=interval)
    show_environment(acted)


def _nothing_to_tear_down(environment: str) -> None:
    if session().json_output:
        output.print_json(None)
    else:
        output.say(f"No live environment {environment}: nothing to tear down.")


@env.command()
@click.argument("environment")
@idempotency_option
@json_option
def cancel(environment: str, idempotency_key: str) -> None:
    """Cancel a request waiting for approval, or provisioning under way (what it made is undone)."""
    client, acted = _act("cancel", environment, idempotency_key)
    client.close()
    assert acted is not None  # noqa: S101 (only --missing-ok answers none)
    show_environment(acted)


@env.command()
@click.argument("environment")
@idempotency_option
@click.option("--wait", "wait_ready", is_flag=True, help="Follow it until ready (or another end: exit 5).")
@wait_options
@json_option
def retry(environment: str, idempotency_key: str, wait_ready: bool, timeout: float, interval: float) -> None:
    """Resume a failed environment's run at its failed step."""
    client, acted = _act("retry", environment, idempotency_key)
    with client:
        assert acted is not None  # noqa: S101 (only --missing-ok answers none)
        if wait_ready:
            acted = follow(client, acted, until="ready", timeout=timeout, interval=interval)
    show_environment(acted)


@env.command()
@click.argument("environment")
@click.option(
    "--for",
    "until",
    type=click.Choice(sorted(WAIT_FOR)),
    default="ready",
    show_default=True,
    help="The status to wait for; any other end is exit 5.",
)
@wait_options
@json_option
def wait(environment: str, until: str, timeout: float, interval: float) -> None:
    """Follow an environment until it is ready (or torn down, with --for torn-down)."""
    with session().client() as client:
        found = resolve(client, environment)
        show_environment(follow(client, found, until=WAIT_FOR[until], timeout=timeout, interval=interval))
