"""``portal services|workloads|hooks|scorecards``: the service catalogue, workloads (claim, live status, logs),
CI/CD webhook sources and scorecards, as their pages offer them. Services are named by slug, webhook sources by
name, workloads and scorecards by id (``portal workloads list``, ``portal scorecards list``).

The groups join the root command in :mod:`portal_cli.main`.
"""

from __future__ import annotations

from typing import Any

import click

from portal_cli import output
from portal_cli.api import Client, ExitCode, PortalError
from portal_cli.context import json_option, session
from portal_cli.environments import idempotency_option

SERVICES = "/api/services/"
WORKLOADS = "/api/workloads/"
HOOKS = "/api/webhook-sources/"
SCORECARDS = "/api/scorecards/"
CI_PROVIDERS = ["github", "gitlab", "azure_devops"]
MAX_TAIL = 1000


def _not_found(what: str) -> PortalError:
    return session().fail(PortalError(f"Not found: {what}.", ExitCode.NOT_FOUND))


def _limit_option(command: Any) -> Any:
    return click.option(
        "--limit", type=click.IntRange(1, 5000), default=100, show_default=True, help="At most this many."
    )(command)


def _query(**params: Any) -> dict[str, Any]:
    return {name: value for name, value in params.items() if value not in (None, "", ())}


# --- services --------------------------------------------------------------------------------------------


def find_service(client: Client, slug: str) -> dict[str, Any]:
    """The service of that slug among those the caller may see (exit 4 when there is none)."""
    for found in client.get_all(SERVICES, {"q": slug}):
        if found.get("slug") == slug:
            return dict(found)
    raise _not_found(f"no service {slug!r} that you may see (see `portal services list`)")


def _links(given: tuple[str, ...]) -> list[dict[str, str]]:
    links = []
    for link in given:
        label, separator, url = link.partition("=")
        if not separator or not label.strip() or not url.strip():
            raise click.BadParameter(
                f"{link!r}: give a link as LABEL=URL, e.g. Dashboard=https://…", param_hint="--link"
            )
        links.append({"label": label.strip(), "url": url.strip()})
    return links


def _show_service(service: dict[str, Any]) -> None:
    output.fields(
        [
            ("service", f"{service.get('name')} ({service.get('slug')}, id {service.get('id')})"),
            ("team", service.get("team")),
            ("namespace group", service.get("namespace_group")),
            ("description", service.get("description")),
            ("repository", service.get("repository_url")),
            ("runbook", service.get("runbook_url")),
            ("on call", service.get("oncall_url")),
            *((link.get("label"), link.get("url")) for link in service.get("links") or []),
            ("changed", service.get("updated_at")),
        ]
    )


def _service_options(command: Any) -> Any:
    for option in reversed(
        [
            click.option("--name", help="Its name as people say it."),
            click.option("--team", help="The owner team's slug."),
            click.option("--namespace-group", help="The namespace group its workloads run in (the portal lists them)."),
            click.option("--description", help="What it does, in a sentence."),
            click.option("--repository-url", help="Its repository (events of CI systems name it)."),
            click.option("--runbook-url", help="Its runbook."),
            click.option("--oncall-url", help="Its on-call rota."),
            click.option(
                "--link", "links", multiple=True, metavar="LABEL=URL", help="A link (repeat); replaces its links."
            ),
        ]
    ):
        command = option(command)
    return command


@click.group()
def services() -> None:
    """The service catalogue: list, show, create, edit, delete, and a service's scorecards."""


@services.command("list")
@click.option("--team", help="Only this team's services (slug).")
@click.option("--namespace-group", help="Only services of this namespace group.")
@click.option("--search", help="Names, slugs or descriptions containing this.")
@_limit_option
@json_option
def services_list(team: str | None, namespace_group: str | None, search: str | None, limit: int) -> None:
    """Services you may see."""
    state = session()
    with state.client() as client:
        found = client.get_all(SERVICES, _query(team=team, namespace_group=namespace_group, q=search), limit=limit)
    if state.json_output:
        output.print_json(found)
        return
    if not found:
        output.say("No service matches.")
        return
    output.table(
        ["slug", "name", "team", "namespace group", "repository"],
        (
            [row.get("slug"), row.get("name"), row.get("team"), row.get("namespace_group"), row.get("repository_url")]
            for row in found
        ),
    )


@services.command("show")
@click.argument("slug")
@json_option
def services_show(slug: str) -> None:
    """The service SLUG: owner, repository, links."""
    state = session()
    with state.client() as client:
        service = find_service(client, slug)
    if state.json_output:
        output.print_json(service)
        return
    _show_service(service)


@services.command("create")
@click.option("--slug", required=True, help="Its short name in addresses: lowercase letters, digits and '-'.")
@_service_options
@json_option
def services_create(slug: str, links: tuple[str, ...], **fields: Any) -> None:
    """Add a service to the catalogue (--name, --team and --namespace-group are needed)."""
    state = session()
    missing = [f"--{name.replace('_', '-')}" for name in ("name", "team", "namespace_group") if not fields.get(name)]
    if missing:
        raise click.UsageError(f"Give {', '.join(missing)} for a new service.")
    body = {"slug": slug, **_query(**fields), "links": _links(links)}
    with state.client() as client:
        created = client.post(SERVICES, body)
    if state.json_output:
        output.print_json(created)
        return
    output.say(f"Service {created.get('name')} ({created.get('slug')}) added to the catalogue.")


@services.command("edit")
@click.argument("slug")
@click.option("--new-slug", "new_slug", help="A new slug (its address changes).")
@_service_options
@json_option
def services_edit(slug: str, new_slug: str | None, links: tuple[str, ...], **fields: Any) -> None:
    """Change what the options name of the service SLUG (the rest stays as it is)."""
    state = session()
    body = _query(slug=new_slug, **fields)
    if links:
        body["links"] = _links(links)
    if not body:
        raise click.UsageError("Name something to change, e.g. --description or --team (see --help).")
    with state.client() as client:
        service = find_service(client, slug)
        changed = client.patch(f"{SERVICES}{service['id']}/", body)
    if state.json_output:
        output.print_json(changed)
        return
    output.say(f"Service {changed.get('name')} ({changed.get('slug')}) saved.")


@services.command("delete")
@click.argument("slug")
@click.option("--yes", is_flag=True, help="Do not ask to confirm.")
@json_option
def services_delete(slug: str, yes: bool) -> None:
    """Remove the service SLUG from the catalogue; its workloads and deployments stay, without a service."""
    state = session()
    with state.client() as client:
        service = find_service(client, slug)
        if not yes:
            click.confirm(f"Delete {service.get('name')} ({slug}) from the catalogue?", abort=True, err=True)
        client.delete(f"{SERVICES}{service['id']}/")
    if state.json_output:
        output.print_json({"deleted": slug})
        return
    output.say(
        f"Service {service.get('name')} deleted; its workloads are unmatched now (`portal workloads list --unmatched`)."
    )


@services.command("scorecards")
@click.argument("slug")
@json_option
def services_scorecards(slug: str) -> None:
    """The service SLUG on each scorecard: its level, and each rule not passed with why."""
    state = session()
    with state.client() as client:
        service = find_service(client, slug)
        cards = client.get(f"{SERVICES}{service['id']}/scorecards/")
    if state.json_output:
        output.print_json(cards)
        return
    if not cards:
        output.say("No scorecard yet.")
        return
    output.table(
        ["scorecard", "level", "rules passed", "evaluated"],
        ([card.get("name"), card.get("level_label"), _passed(card), card.get("evaluated_at")] for card in cards),
    )
    for card in cards:
        for rule in card.get("rules") or []:
            if rule.get("status") in ("failed", "unknown"):
                state_words = "not checked" if rule.get("status") == "unknown" else "failed"
                output.say(
                    f"{card.get('name')}: {rule.get('title')} ({rule.get('level')}) {state_words}: {rule.get('reason')}"
                )


def _passed(card: dict[str, Any]) -> str:
    if card.get("total") is None:
        return "—"
    return f"{card.get('passed')}/{card.get('total')}"


# --- workloads -------------------------------------------------------------------------------------------


@click.group()
def workloads() -> None:
    """Workloads synced from clusters: list, claim an unmatched one, its live status and its pods' logs."""


@workloads.command("list")
@click.option("--unmatched", is_flag=True, help="Only the workloads of no service, to claim.")
@click.option("--service", help="Only this service's (slug).")
@click.option("--team", help="Only this team's (slug).")
@click.option("--cluster", type=click.IntRange(1, None), help="Only this cluster's (id).")
@click.option("--namespace", help="Only this namespace's.")
@click.option("--search", help="Names containing this.")
@click.option("--all", "include_gone", is_flag=True, help="Gone ones too.")
@_limit_option
@json_option
def workloads_list(
    unmatched: bool,
    service: str | None,
    team: str | None,
    cluster: int | None,
    namespace: str | None,
    search: str | None,
    include_gone: bool,
    limit: int,
) -> None:
    """Workloads you may see (present ones, unless --all)."""
    state = session()
    params = _query(service=service, team=team, cluster=cluster, namespace=namespace, q=search)
    if unmatched:
        params["unmatched"] = "true"
    if not include_gone:
        params["gone"] = "false"
    with state.client() as client:
        found = client.get_all(WORKLOADS, params, limit=limit)
    if state.json_output:
        output.print_json(found)
        return
    if not found:
        output.say("No workload matches." + ("" if not unmatched else " Every workload belongs to a service."))
        return
    output.table(
        ["id", "cluster", "namespace", "kind", "name", "service", "version", "ready", "health"],
        (
            [
                row.get("id"),
                row.get("cluster_name"),
                row.get("namespace"),
                row.get("kind"),
                row.get("name"),
                row.get("service"),
                row.get("version"),
                _replicas(row),
                row.get("health"),
            ]
            for row in found
        ),
    )


def _replicas(row: dict[str, Any]) -> str:
    if row.get("replicas_desired") is None:
        return "—"
    return f"{row.get('replicas_ready') or 0}/{row.get('replicas_desired')}"


@workloads.command("claim")
@click.argument("workload", type=click.IntRange(1, None))
@click.option("--service", required=True, help="The slug of the service it belongs to.")
@idempotency_option
@json_option
def workloads_claim(workload: int, service: str, idempotency_key: str) -> None:
    """Say that the unmatched WORKLOAD (its id) belongs to a service; the cluster sync keeps the claim."""
    state = session()
    with state.client() as client:
        claimed = client.post(f"{WORKLOADS}{workload}/claim/", {"service": service}, idempotency_key=idempotency_key)
    if state.json_output:
        output.print_json(claimed)
        return
    where = f"{claimed.get('kind')} {claimed.get('namespace')}/{claimed.get('name')}"
    output.say(f"{where} now belongs to {claimed.get('service')}.")


@workloads.command("status")
@click.argument("workload", type=click.IntRange(1, None))
@json_option
def workloads_status(workload: int) -> None:
    """What WORKLOAD's cluster says now: its pods (the least healthy first) and their recent events."""
    state = session()
    with state.client() as client:
        row = client.get(f"{WORKLOADS}{workload}/")
        live = client.get(f"{WORKLOADS}{workload}/kubernetes/")
    if state.json_output:
        output.print_json({"workload": row, "kubernetes": live})
        return
    output.fields(
        [
            ("workload", f"{row.get('kind')} {row.get('namespace')}/{row.get('name')} (id {row.get('id')})"),
            ("cluster", f"{row.get('cluster_name')} ({row.get('region')})"),
            ("service", row.get("service")),
            ("version", row.get("version")),
            ("replicas ready", _replicas(row)),
            ("health", row.get("health")),
            ("pods picked by", live.get("selector")),
        ]
    )
    for problem in ("problem", "pods_problem", "events_problem"):
        if live.get(problem):
            output.note(live[problem])
    pods = live.get("pods") or []
    if pods:
        output.table(
            ["pod", "status", "ready", "restarts", "node", "started"],
            (
                [
                    pod.get("name"),
                    pod.get("status"),
                    f"{pod.get('ready_containers')}/{len(pod.get('containers') or [])}",
                    pod.get("restarts"),
                    pod.get("node"),
                    pod.get("created_at"),
                ]
                for pod in pods
            ),
            title="Pods",
        )
    elif not live.get("problem") and not live.get("pods_problem"):
        output.say("No pod runs now.")
    if live.get("pods_truncated"):
        output.note(f"Only the first {live.get('pod_limit')} pods are shown.")
    events = live.get("events") or []
    if events:
        output.table(
            ["last seen", "type", "reason", "object", "count", "message"],
            (
                [
                    event.get("last_seen"),
                    event.get("type"),
                    event.get("reason"),
                    f"{event.get('involved_kind')}/{event.get('involved_name')}",
                    event.get("count"),
                    event.get("message"),
                ]
                for event in events
            ),
            title="Events",
        )
    if pods and live.get("can_read_logs"):
        output.note(f"Logs: portal workloads logs {workload} --pod {pods[0].get('name')}")


@workloads.command("logs")
@click.argument("workload", type=click.IntRange(1, None))
@click.option("--pod", help="One of its pods (default: the least healthy one, as `workloads status` lists first).")
@click.option("--container", help="One container only (default: each of the pod's).")
@click.option("--previous", is_flag=True, help="The log of the container's previous instance (needs --container).")
@click.option("--tail", type=click.IntRange(1, MAX_TAIL), default=100, show_default=True, help="The last N lines.")
@json_option
def workloads_logs(workload: int, pod: str | None, container: str | None, previous: bool, tail: int) -> None:
    """The last lines of WORKLOAD's pod's container logs (reading a log is audited)."""
    state = session()
    if previous and not container:
        raise click.UsageError("--previous needs --container: the previous instance of which container?")
    with state.client() as client:
        if not pod:
            pods = client.get(f"{WORKLOADS}{workload}/kubernetes/").get("pods") or []
            if not pods:
                raise state.fail(PortalError("The workload has no pod now: there is no log to read.", ExitCode.REFUSED))
            pod = str(pods[0]["name"])
        params = _query(pod=pod, container=container, tail=tail)
        if previous:
            params["previous"] = "true"
        read = client.get(f"{WORKLOADS}{workload}/logs/", params)
    if state.json_output:
        output.print_json(read)
        return
    if read.get("problem"):
        raise state.fail(PortalError(str(read["problem"]), ExitCode.REFUSED, body=read))
    for entry in read.get("containers") or []:
        output.note(
            f"==> {read.get('pod')} / {entry.get('container')}{' (previous)' if entry.get('previous') else ''} <=="
        )
        if entry.get("problem"):
            output.note(entry["problem"])
            continue
        click.echo(entry.get("text") or "", nl=False)
        if entry.get("truncated"):
            output.note(f"(cut at {read.get('limit_bytes')} bytes)")


# --- webhook sources -------------------------------------------------------------------------------------


def find_hook(client: Client, source: str) -> dict[str, Any]:
    """A webhook source by its name (or id) among those the caller may see."""
    for found in client.get_all(HOOKS):
        if found.get("name") == source or str(found.get("id")) == source:
            return dict(found)
    raise _not_found(f"no webhook source {source!r} that you may see (see `portal hooks list`)")


def _show_secret(source: dict[str, Any], *, rotated: bool) -> None:
    secret = source.get("secret")
    if secret is None:
        output.say(
            f"{source.get('name')} was {'rotated' if rotated else 'created'} by an earlier attempt with this key; its "
            "secret is shown once only. Rotate it for a new one: portal hooks rotate " + str(source.get("name"))
        )
        return
    output.fields([("webhook source", source.get("name")), ("URL", source.get("url")), ("secret", secret)])
    output.note("Store the secret in the CI system now: it is not shown again (rotate it for a new one).")


@click.group()
def hooks() -> None:
    """CI/CD webhook sources: list, create, rotate the secret, deactivate, and the services each may write to."""


@hooks.command("list")
@json_option
def hooks_list() -> None:
    """Webhook sources you may see."""
    state = session()
    with state.client() as client:
        found = client.get_all(HOOKS)
    if state.json_output:
        output.print_json(found)
        return
    if not found:
        output.say("No webhook source.")
        return
    output.table(
        ["id", "name", "provider", "team", "default service", "writes to", "active", "last delivery"],
        (
            [
                row.get("id"),
                row.get("name"),
                row.get("provider"),
                row.get("team"),
                row.get("service"),
                ", ".join(row.get("services") or []) or f"services of {row.get('team')}",
                row.get("active"),
                row.get("last_delivery_at"),
            ]
            for row in found
        ),
    )


@hooks.command("create")
@click.option("--name", required=True, help="Part of its URL: letters, digits, '.', '_' and '-'.")
@click.option("--provider", type=click.Choice(CI_PROVIDERS), required=True)
@click.option("--team", required=True, help="The team whose services it writes to (slug).")
@click.option("--service", help="A service of the team for events of a repository outside the catalogue (slug).")
@idempotency_option
@json_option
def hooks_create(name: str, provider: str, team: str, service: str | None, idempotency_key: str) -> None:
    """Register a CI/CD system; its URL and secret are printed once."""
    state = session()
    body = _query(name=name, provider=provider, team=team, service=service)
    with state.client() as client:
        created = client.post(HOOKS, body, idempotency_key=idempotency_key)
    if state.json_output:
        output.print_json(created)
        return
    _show_secret(created, rotated=False)


@hooks.command("rotate")
@click.argument("source")
@idempotency_option
@json_option
def hooks_rotate(source: str, idempotency_key: str) -> None:
    """Give SOURCE (its name) a new secret, printed once; the old one stops working at once."""
    state = session()
    with state.client() as client:
        found = find_hook(client, source)
        rotated = client.post(f"{HOOKS}{found['id']}/rotate/", idempotency_key=idempotency_key)
    if state.json_output:
        output.print_json(rotated)
        return
    _show_secret(rotated, rotated=True)


@hooks.command("deactivate")
@click.argument("source")
@idempotency_option
@json_option
def hooks_deactivate(source: str, idempotency_key: str) -> None:
    """Refuse SOURCE's deliveries from now on (its runs are kept)."""
    state = session()
    with state.client() as client:
        found = find_hook(client, source)
        done = client.post(f"{HOOKS}{found['id']}/deactivate/", idempotency_key=idempotency_key)
    if state.json_output:
        output.print_json(done)
        return
    already = "" if found.get("active") else " (it already was)"
    output.say(f"{done.get('name')} is deactivated{already}: its deliveries are refused.")


@hooks.command("services")
@click.argument("source")
@click.option("--service", "chosen", multiple=True, help="A service it may write to (slug; repeat). None: its team's.")
@idempotency_option
@json_option
def hooks_services(source: str, chosen: tuple[str, ...], idempotency_key: str) -> None:
    """Set the only services SOURCE may write to (without --service: its team's services, as by default)."""
    state = session()
    with state.client() as client:
        found = find_hook(client, source)
        updated = client.post(
            f"{HOOKS}{found['id']}/services/",
            {"services": list(chosen)},
            idempotency_key=idempotency_key,
        )
    if state.json_output:
        output.print_json(updated)
        return
    listed = ", ".join(updated.get("services") or []) or f"the services of {updated.get('team')}"
    output.say(f"{updated.get('name')} now writes to {listed}.")


# --- scorecards ------------------------------------------------------------------------------------------


@click.group()
def scorecards() -> None:
    """Scorecards: list, show (rules and standings), and evaluate now (platform admins)."""


@scorecards.command("list")
@json_option
def scorecards_list() -> None:
    """Every scorecard and how many rules it has."""
    state = session()
    with state.client() as client:
        found = client.get_all(SCORECARDS)
    if state.json_output:
        output.print_json(found)
        return
    if not found:
        output.say("No scorecard yet.")
        return
    output.table(
        ["id", "name", "rules", "description"],
        ([row.get("id"), row.get("name"), len(row.get("rules") or []), row.get("description")] for row in found),
    )


@scorecards.command("show")
@click.argument("scorecard", type=click.IntRange(1, None))
@click.option("--level", type=click.Choice(["bronze", "silver", "gold", "none"]), help="Only services at this level.")
@json_option
def scorecards_show(scorecard: int, level: str | None) -> None:
    """SCORECARD's rules by level, and the level each service you may see reaches on it."""
    state = session()
    with state.client() as client:
        card = client.get(f"{SCORECARDS}{scorecard}/")
        scores = client.get_all("/api/scorecard-scores/", _query(scorecard=scorecard, level=level))
    if state.json_output:
        output.print_json({"scorecard": card, "scores": scores})
        return
    output.fields([("scorecard", f"{card.get('name')} (id {card.get('id')})"), ("about", card.get("description"))])
    output.table(
        ["level", "rule", "why it matters"],
        ([rule.get("level"), rule.get("title"), rule.get("description")] for rule in card.get("rules") or []),
        title="Rules",
    )
    if scores:
        output.table(
            ["service", "team", "level", "rules passed", "evaluated"],
            (
                [
                    score.get("service"),
                    score.get("team"),
                    score.get("level_label"),
                    f"{score.get('passed')}/{score.get('total')}",
                    score.get("evaluated_at"),
                ]
                for score in scores
            ),
            title="Services",
        )
    else:
        output.say("No service evaluated on it yet.")


@scorecards.command("evaluate")
@click.argument("scorecard", type=click.IntRange(1, None))
@idempotency_option
@json_option
def scorecards_evaluate(scorecard: int, idempotency_key: str) -> None:
    """Evaluate every service against SCORECARD now (platform admins); a worker does it within a minute."""
    state = session()
    with state.client() as client:
        asked = client.post(f"{SCORECARDS}{scorecard}/evaluate/", idempotency_key=idempotency_key)
    if state.json_output:
        output.print_json(asked)
        return
    output.say(str(asked.get("message")))


GROUPS = [services, workloads, hooks, scorecards]
