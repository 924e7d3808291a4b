"""Writes of CI/CD webhooks: a delivery's effect (pipeline runs, deployments) and the webhook sources themselves.

:func:`webhook_receive` applies one authenticated, parsed delivery
(:mod:`deployments.hooks.payloads`) in one transaction: it records the delivery id
first, so a replay of it (the same id) changes nothing, then upserts the
pipeline run and records the deployment through
:func:`deployments.services.record_deployment`. A webhook has no portal user:
the source's secret, checked before this is called, is its authority, and
that authority reaches no further than the source's own services
(:func:`source_services`): a delivery naming the repository of any other
team's service is kept as an unmatched run of the source and records no
deployment, so one team's CI cannot write into another team's matrix or
DORA figures.

Webhook sources are managed by people (``deployments.change`` on the source's
team) through :func:`webhook_source_create`, :func:`webhook_source_rotate`,
:func:`webhook_source_deactivate` and :func:`webhook_source_services_set`,
each audited. The secret is returned once, to be pasted into the CI system,
and never written to the audit log or logs.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone

from access import policy
from access.audit import services as audit
from access.models import Team, User
from access.permissions import CHANGE, VIEW
from deployments.choices import CiProvider, DeploymentSource, RunStatus, SmokeTest, StageKind
from deployments.hooks.payloads import FINAL_RUN_STATUSES, DeployReport, Event, RunReport, Stage
from deployments.models import Deployment, PipelineRun, Service, WebhookDelivery, WebhookSource
from deployments.services import Target, record_deployment
from environments.models import Environment

SHORT_SHA = 7
SOURCE_FIELDS = ["name", "provider", "team", "service", "active"]
SOURCE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


class Outcome(StrEnum):
    ACCEPTED = "accepted"
    DUPLICATE = "duplicate"


# --- links a CI system reports ---------------------------------------------------------------

WEB_SCHEMES = ("http", "https")


def web_link(url: str) -> str:
    """``url`` if it is an absolute http(s) URL with a host, else ``""``.

    A run's URL comes from the CI payload and becomes a link on the service
    and deployment pages: a ``javascript:`` or ``data:`` URL there would run
    in the portal's origin when clicked, so only web addresses are kept.
    """
    text = (url or "").strip()
    try:
        parts = urlsplit(text)
    except ValueError:
        return ""
    if parts.scheme.lower() not in WEB_SCHEMES or not parts.hostname:
        return ""
    return text


# --- matching a payload to the catalogue ----------------------------------------------------


def normalise_repository(url: str) -> str:
    """A repository URL reduced to ``host/path``: scheme, user, ``.git``, case and trailing slashes dropped.

    ``git@github.com:Org/Repo.git``, ``ssh://git@github.com/org/repo`` and
    ``https://github.com/org/repo/`` all become ``github.com/org/repo``.
    """
    text = url.strip().lower()
    if not text:
        return ""
    text = re.sub(r"^[a-z+]+://", "", text)
    text = text.rpartition("@")[2] if "@" in text.split("/", 1)[0] else text
    host, _, path = text.partition("/")
    if ":" in host and not host.rsplit(":", 1)[1].isdigit():  # scp-like git@host:org/repo
        host, _, first = host.partition(":")
        path = f"{first}/{path}" if path else first
    else:
        host = host.split(":", 1)[0]  # a port
    path = path.strip("/").removesuffix(".git").strip("/")
    return f"{host}/{path}" if path else host


def services_for_repository(repository_url: str) -> list[Service]:
    """The catalogue services whose repository is ``repository_url`` (however each is spelt), oldest first.

    More than one when a repository holds several services (a monorepo).
    """
    wanted = normalise_repository(repository_url)
    if not wanted or "/" not in wanted:
        return []
    name = wanted.rsplit("/", 1)[1]
    return [
        service
        for service in Service.objects.filter(repository_url__icontains=name).order_by("pk")
        if normalise_repository(service.repository_url) == wanted
    ]


def source_services(source: WebhookSource) -> QuerySet[Service]:
    """The services a source's deliveries may attach to: its explicit list when one is set, else its team's."""
    listed = Service.objects.filter(webhook_sources=source)
    return listed if listed.exists() else Service.objects.filter(team_id=source.team_id)


def service_of_delivery(source: WebhookSource, repository_url: str, *fallbacks: Service | None) -> Service | None:
    """The service a delivery is about, among the services the source may write to; None when unmatched.

    A repository that is in the catalogue decides: its service if the source
    may write to it, else nothing (the delivery is about another team's
    service, which the source must not touch, and it goes to no fallback
    either). A repository outside the catalogue, or none, leaves the first
    of ``fallbacks`` (the run's service, the source's default) that the
    source may still write to.
    """
    allowed = source_services(source)
    named = services_for_repository(repository_url)
    if named:
        return allowed.filter(pk__in=[service.pk for service in named]).order_by("pk").first()
    for candidate in fallbacks:
        if candidate is not None and allowed.filter(pk=candidate.pk).exists():
            return candidate
    return None


def environment_named(team_id: int | None, name: str) -> Environment | None:
    """The team's live environment of that name, if it has one."""
    if team_id is None or not name:
        return None
    return Environment.objects.live().filter(team_id=team_id, name__iexact=name).order_by("-pk").first()


# --- applying a delivery --------------------------------------------------------------------


@transaction.atomic
def webhook_receive(*, source: WebhookSource, event: Event) -> Outcome:
    """Apply one delivery of ``source``: the same delivery id twice is applied once."""
    try:
        with transaction.atomic():
            WebhookDelivery.objects.create(source=source, delivery_id=event.delivery_id[:200])
    except IntegrityError:
        return Outcome.DUPLICATE
    run = pipeline_run_report(source=source, report=event.run) if event.run is not None else None
    if event.deployment is not None:
        run = _record_deployment(source, event.deployment, run)
    if run is not None:
        _apply_smoke_test(run)
    WebhookSource.objects.filter(pk=source.pk).update(last_delivery_at=timezone.now())
    return Outcome.ACCEPTED


def _locked_run(source: WebhookSource, external_id: str, provider: str) -> PipelineRun:
    """The run of that id, locked; created when this is its first report (one row even when two race)."""
    existing = PipelineRun.objects.select_for_update().filter(source=source, external_id=external_id).first()
    if existing is not None:
        return existing
    try:
        with transaction.atomic():
            return PipelineRun.objects.create(source=source, external_id=external_id, provider=provider)
    except IntegrityError:
        return PipelineRun.objects.select_for_update().get(source=source, external_id=external_id)


def pipeline_run_report(*, source: WebhookSource, report: RunReport) -> PipelineRun:
    """Upsert the run a report is about: the latest report wins, blank fields say nothing.

    A finished run does not go back to queued or running (a late "in
    progress" report arriving after the end); stages are merged by name.
    """
    run = _locked_run(source, report.external_id, source.provider)
    run.service = service_of_delivery(source, report.repository_url, run.service, source.service)
    for name, longest in (("name", 200), ("url", 500), ("commit_sha", 64), ("branch", 253), ("triggered_by", 200)):
        value = web_link(report.url) if name == "url" else getattr(report, name)
        if value:
            setattr(run, name, value[:longest])
    if report.image_tag:
        run.image_tag = report.image_tag[:128]
    for name in ("commit_at", "started_at", "finished_at"):
        if getattr(report, name) is not None:
            setattr(run, name, getattr(report, name))
    if report.status is not None and not (run.status in FINAL_RUN_STATUSES and report.status not in FINAL_RUN_STATUSES):
        run.status = report.status
    if report.security:
        run.security = {**run.security, **report.security}
    if report.stages:
        run.stages = merge_stages(run.stages, report.stages, whole=report.all_stages)
        if run.started_at is None:
            run.started_at = min((stage.started_at for stage in report.stages if stage.started_at), default=None)
    _place(run)
    run.save()
    return run


def _place(run: PipelineRun) -> None:
    """The run's team and tier copies, from its service, else its environment, else its source."""
    environment = run.environment
    run.team_id = (
        run.service.team_id
        if run.service is not None
        else environment.team_id
        if environment is not None
        else run.source.team_id
    )
    run.tier = environment.tier if environment is not None else ""
    if environment is not None and run.cluster_id is None:
        run.cluster_id = environment.cluster_id


def merge_stages(known: list[dict[str, Any]], reported: tuple[Stage, ...], *, whole: bool) -> list[dict[str, Any]]:
    """Stages merged by name, in pipeline order.

    A report of the whole pipeline (``whole``) gives the order, with stages it
    does not name kept after; otherwise known stages keep their place and new
    ones are added at the end. A finished stage does not go back to running.
    """
    by_name = {stage["name"]: stage for stage in known if isinstance(stage, dict) and "name" in stage}
    merged: dict[str, dict[str, Any]] = {}
    for stage in reported:
        fresh = stage.as_json()
        before = by_name.get(stage.name)
        if before is not None:
            if before.get("status") in FINAL_RUN_STATUSES and stage.status not in FINAL_RUN_STATUSES:
                fresh["status"] = before["status"]
            fresh["started_at"] = fresh["started_at"] or before.get("started_at")
            fresh["finished_at"] = fresh["finished_at"] or before.get("finished_at")
        merged[stage.name] = fresh
    if whole:
        return [*merged.values(), *(stage for name, stage in by_name.items() if name not in merged)]
    return [merged.get(name, stage) for name, stage in by_name.items()] + [
        stage for name, stage in merged.items() if name not in by_name
    ]


def _run_for_deployment(source: WebhookSource, report: DeployReport, run: PipelineRun | None) -> PipelineRun | None:
    """The run a deployment came from: the one the delivery names, else the source's latest of the commit."""
    if run is not None:
        return run
    if report.run_external_id:
        named = PipelineRun.objects.select_for_update().filter(source=source, external_id=report.run_external_id)
        if (found := named.first()) is not None:
            return found
    if report.commit_sha:
        of_commit = PipelineRun.objects.select_for_update().filter(
            source=source, commit_sha__startswith=report.commit_sha
        )
        return of_commit.order_by("-started_at", "-pk").first()
    return None


def _record_deployment(source: WebhookSource, report: DeployReport, run: PipelineRun | None) -> PipelineRun | None:
    """Record the reported deployment; a deployment of no service the source may write to is not recorded."""
    run = _run_for_deployment(source, report, run)
    service = service_of_delivery(
        source, report.repository_url, run.service if run is not None else None, source.service
    )
    if run is not None:
        if report.image_tag:
            run.image_tag = report.image_tag[:128]
        if report.security:
            run.security = {**run.security, **report.security}
        if run.service is None:
            run.service = service
    if service is None:
        if run is not None:
            run.save()
        return run
    environment = environment_named(service.team_id, report.environment)
    if run is not None:
        run.environment = run.environment or environment
        _place(run)
        run.save()
    commit_sha = report.commit_sha or (run.commit_sha if run is not None else "")
    version = (
        report.image_tag
        or (run.image_tag if run is not None else "")
        or commit_sha[:SHORT_SHA]
        or report.fallback_version
    )
    if not version:
        return run
    record_deployment(
        Target(service=service, environment=environment),
        version=version,
        source=DeploymentSource.PIPELINE,
        started_at=report.at,
        status=report.status,
        finished_at=report.finished_at,
        commit_sha=commit_sha,
        commit_at=run.commit_at if run is not None else None,
        pipeline_run=run,
        # Who started the run, rather than the bot that reported the deployment for it.
        triggered_by=(run.triggered_by if run is not None else "") or report.triggered_by,
    )
    return run


def smoke_test_of(stages: list[dict[str, Any]]) -> SmokeTest | None:
    """The smoke-test outcome a run's post-deploy stages give: failed if one failed, passed if all passed."""
    post_deploy = [stage for stage in stages if isinstance(stage, dict) and stage.get("kind") == StageKind.POST_DEPLOY]
    if not post_deploy:
        return None
    if any(stage.get("status") == RunStatus.FAILED for stage in post_deploy):
        return SmokeTest.FAILED
    if all(stage.get("status") == RunStatus.SUCCEEDED for stage in post_deploy):
        return SmokeTest.PASSED
    return None


def _apply_smoke_test(run: PipelineRun) -> None:
    """The run's deployments take its smoke-test outcome, whichever of the deploy and the test was reported first."""
    outcome = smoke_test_of(run.stages)
    if outcome is not None:
        Deployment.objects.filter(pipeline_run=run).exclude(smoke_test=outcome).update(smoke_test=outcome)


# --- managing sources -----------------------------------------------------------------------


@dataclass(frozen=True)
class SourceSecret:
    """A source and its secret, as created or rotated: the only time the secret is shown."""

    source: WebhookSource
    secret: str


def _new_secret() -> str:
    return secrets.token_urlsafe(32)


def _check(actor: User, action: str, obj: Any) -> None:
    policy.forget(actor)
    policy.require(actor, action, obj)


@transaction.atomic
def webhook_source_create(
    *, actor: User, name: str, provider: str, team: Team, service: Service | None = None
) -> SourceSecret:
    """Register a CI/CD system that may post to ``/hooks/<name>/`` (``deployments.change`` on the team)."""
    source = WebhookSource(name=name.strip(), provider=provider, team=team, service=service, secret=_new_secret())
    _check(actor, CHANGE, source)
    if not SOURCE_NAME.fullmatch(source.name):
        raise ValidationError({"name": "Use letters, digits, '.', '_' and '-' only (it is part of the URL)."})
    if provider not in CiProvider.values:
        raise ValidationError({"provider": "Choose GitHub, GitLab or Azure DevOps."})
    if service is not None and not policy.can(actor, VIEW, service):
        raise ValidationError({"service": "No such service."})
    if service is not None and service.team_id != team.pk:
        raise ValidationError({"service": f"Choose a service of {team}: a source writes only to its team's services."})
    source.full_clean()
    source.save()
    audit.record(
        audit.WEBHOOK_SOURCE_CREATED, source, actor=actor, after=audit.snapshot(source, SOURCE_FIELDS), team=team
    )
    return SourceSecret(source, source.secret)


@transaction.atomic
def webhook_source_rotate(*, actor: User, source_id: int) -> SourceSecret:
    """Give a source a new secret; the old one stops working at once."""
    source = policy.get_for_update(WebhookSource.objects.all(), actor, CHANGE, pk=source_id)
    source.secret = _new_secret()
    source.save(update_fields=["secret"])
    audit.record(audit.WEBHOOK_SECRET_ROTATED, source, actor=actor, team=source.team)
    return SourceSecret(source, source.secret)


@transaction.atomic
def webhook_source_deactivate(*, actor: User, source_id: int) -> WebhookSource:
    """Stop accepting a source's deliveries (they get 404). Its runs are kept. Deactivating twice changes nothing."""
    source = policy.get_for_update(WebhookSource.objects.all(), actor, CHANGE, pk=source_id)
    if not source.active:
        return source
    source.active = False
    source.save(update_fields=["active"])
    audit.record(
        audit.WEBHOOK_SOURCE_DEACTIVATED,
        source,
        actor=actor,
        before={"active": True},
        after={"active": False},
        team=source.team,
    )
    return source


@transaction.atomic
def webhook_source_services_set(*, actor: User, source_id: int, services: Iterable[Service]) -> WebhookSource:
    """Set the only services a source's deliveries may attach to; an empty list means its team's services.

    Whoever may change the source may narrow what it writes to, but a service
    is added only by someone who may change that service
    (``deployments.change`` on its team): letting one team's CI write into
    another team's services is that other team's (or a platform admin's)
    decision. The source's default service must stay among them. Audited with
    the list before and after; setting the same list again changes nothing.
    """
    source = policy.get_for_update(WebhookSource.objects.select_related("service", "team"), actor, CHANGE, pk=source_id)
    before = sorted(source.services.values_list("slug", flat=True))
    wanted = {service.pk: service for service in services}
    listed = set(source.services.values_list("pk", flat=True))
    for service in wanted.values():
        if service.pk in listed:
            continue
        if not policy.can(actor, VIEW, service):
            raise ValidationError({"services": "No such service."})
        if not policy.can(actor, CHANGE, service):
            raise PermissionDenied(
                f"You may not let {source} write to {service}: that takes deployments.change on {service.team}."
            )
    default = source.service
    if default is not None:
        allowed = set(wanted) if wanted else set(Service.objects.filter(team=source.team).values_list("pk", flat=True))
        if default.pk not in allowed:
            raise ValidationError(
                {"services": f"Include {default}, the source's default service, or change the default first."}
            )
    source.services.set(list(wanted.values()))
    after = sorted(service.slug for service in wanted.values())
    if after != before:
        audit.record(
            audit.WEBHOOK_SOURCE_SERVICES_SET,
            source,
            actor=actor,
            before={"services": before},
            after={"services": after},
            team=source.team,
        )
    return source
