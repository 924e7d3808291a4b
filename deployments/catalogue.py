"""Writes of the service catalogue: services created, changed and deleted, and workloads claimed for a service.

Each function re-checks the policy inside its transaction and records one
audit event. Who may write: holders of ``deployments.change`` on the
service's owning team (for a change of owner, on both teams). Deleting a
service keeps its workloads and deployments: they lose their service
(``SET_NULL``) and a workload so freed shows up as unmatched again.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.validators import URLValidator
from django.db import transaction

from access import policy
from access.audit import services as audit
from access.models import Team, User
from access.permissions import CHANGE, VIEW
from deployments.choices import ServiceMatch
from deployments.models import Deployment, PipelineRun, Service, Workload

SERVICE_FIELDS = [
    "slug",
    "name",
    "team",
    "description",
    "repository_url",
    "namespace_group",
    "links",
    "runbook_url",
    "oncall_url",
]
MAX_LINKS = 20
RESERVED_SLUGS = {"new"}  # /deployments/services/new/ is the form
_LINK_URL = URLValidator(schemes=["http", "https"])


def _check_owner(actor: User, service: Service) -> None:
    """Refuse, saying why, unless ``actor`` may change services of the service's (new) team."""
    policy.forget(actor)
    if not policy.can(actor, CHANGE, service):
        raise PermissionDenied(f"You may not change services of {service.team}.")


def clean_links(links: Iterable[Mapping[str, Any]]) -> list[dict[str, str]]:
    """Links as ``[{"label", "url"}]``: each needs a label and an http(s) URL; blank rows are dropped."""
    cleaned: list[dict[str, str]] = []
    problems: list[str] = []
    for number, link in enumerate(links, start=1):
        if not isinstance(link, Mapping):
            problems.append(f"Link {number}: give a label and a URL.")
            continue
        label = str(link.get("label") or "").strip()
        url = str(link.get("url") or "").strip()
        if not label and not url:
            continue
        if not label:
            problems.append(f"Link {number}: give it a label (e.g. Dashboard).")
        if not url:
            problems.append(f"Link {number} ({label}): give it a URL.")
        else:
            try:
                _LINK_URL(url)
            except ValidationError:
                problems.append(f"Link {number} ({label or url}): {url!r} is not an http(s) URL.")
        cleaned.append({"label": label[:100], "url": url})
    if len(cleaned) > MAX_LINKS:
        problems.append(f"At most {MAX_LINKS} links.")
    if problems:
        raise ValidationError({"links": problems})
    return cleaned


def _validate(service: Service) -> None:
    if service.slug in RESERVED_SLUGS:
        raise ValidationError({"slug": f"{service.slug!r} is reserved by the portal's addresses; pick another slug."})
    service.full_clean(validate_unique=True)


def _snapshot(service: Service) -> dict[str, Any]:
    return audit.snapshot(service, SERVICE_FIELDS)


@transaction.atomic
def service_create(
    *,
    actor: User,
    slug: str,
    name: str,
    team: Team,
    namespace_group: str,
    description: str = "",
    repository_url: str = "",
    links: Iterable[Mapping[str, Any]] = (),
    runbook_url: str = "",
    oncall_url: str = "",
) -> Service:
    """Add a service to the catalogue, owned by ``team``."""
    service = Service(
        slug=slug.strip(),
        name=name.strip(),
        team=team,
        namespace_group=namespace_group,
        description=description.strip(),
        repository_url=repository_url.strip(),
        runbook_url=runbook_url.strip(),
        oncall_url=oncall_url.strip(),
    )
    _check_owner(actor, service)
    service.links = clean_links(links)
    _validate(service)
    service.save()
    audit.record(audit.SERVICE_CREATED, service, actor=actor, after=_snapshot(service), team=team)
    return service


@transaction.atomic
def service_update(*, actor: User, service_id: int, **fields: Any) -> Service:
    """Change a service's fields. Moving it to another team needs ``deployments.change`` on both teams,
    and moves the team copied onto its workloads, deployments and pipeline runs with it."""
    service = policy.get_for_update(Service.objects.all(), actor, CHANGE, pk=service_id)
    before = _snapshot(service)
    old_team_id = service.team_id
    for name, value in fields.items():
        if name not in SERVICE_FIELDS:
            raise TypeError(f"not a service field: {name}")
        if name == "links":
            value = clean_links(value)
        elif isinstance(value, str):
            value = value.strip()
        setattr(service, name, value)
    if service.team_id != old_team_id:
        _check_owner(actor, service)
    _validate(service)
    service.save()
    after = _snapshot(service)
    if after != before:
        if service.team_id != old_team_id:
            for model in (Workload, Deployment, PipelineRun):
                model.objects.filter(service=service).update(team_id=service.team_id)
        audit.record(audit.SERVICE_CHANGED, service, actor=actor, before=before, after=after, team=service.team)
    return service


@transaction.atomic
def service_delete(*, actor: User, service_id: int) -> int:
    """Remove a service from the catalogue; its workloads and deployments stay, with no service.

    Returns how many workloads it had (they are unmatched now, for someone to claim or a sync to match).
    """
    service = policy.get_for_update(Service.objects.all(), actor, CHANGE, pk=service_id)
    before = _snapshot(service)
    workloads = Workload.objects.filter(service=service).update(service=None, service_match="")
    audit.record(
        audit.SERVICE_DELETED,
        object_type=service._meta.label_lower,
        object_id=str(service.pk),
        object_repr=str(service),
        actor=actor,
        before=before,
        team=service.team,
        workloads_kept=workloads,
    )
    service.delete()
    return workloads


@transaction.atomic
def workload_claim(*, actor: User, workload_id: int, service_id: int) -> Workload:
    """Say that a workload no label matched belongs to a service.

    The claim sets the service, ``service_match=claimed`` (which the cluster
    sync keeps) and the service's team; deployments of the workload recorded
    without a service get it too. Needs ``deployments.change`` on the
    service's team and sight of the workload.
    """
    workload = policy.get_for_update(Workload.objects.all(), actor, VIEW, pk=workload_id)
    service = policy.get_for_update(Service.objects.all(), actor, VIEW, pk=service_id)
    _check_owner(actor, service)
    if workload.service_id is not None:
        raise ValidationError(f"{workload} already belongs to {workload.service}.")
    if workload.gone_at is not None:
        raise ValidationError(f"{workload} is gone from its cluster; there is nothing to claim.")
    before = audit.snapshot(workload, ["service", "service_match", "team"])
    workload.service = service
    workload.service_match = ServiceMatch.CLAIMED
    workload.team = service.team
    workload.save(update_fields=["service", "service_match", "team"])
    Deployment.objects.filter(workload=workload, service__isnull=True).update(service=service, team=service.team)
    audit.record(
        audit.WORKLOAD_CLAIMED,
        workload,
        actor=actor,
        before=before,
        after=audit.snapshot(workload, ["service", "service_match", "team"]),
        team=service.team,
    )
    return workload
