"""Rolling a workload back to an earlier revision: asked by a person, within policy, freezes and approvals.

:func:`rollback_request` checks the policy (``deployments.rollback`` on the
workload), that the environment is not frozen, that an Argo CD application
with auto-sync is acknowledged (the portal never turns auto-sync off: Argo CD
will put Git's version back unless someone reverts the commit), and fixes
the revision and images to go back to (never one with the images the
workload runs now: that would "roll back" to the same version). A production
rollback waits for an approval (``deployments.approve``, never the
requester) when ``DEPLOYMENTS_PRODUCTION_ROLLBACK_APPROVAL`` is on;
otherwise, or once approved, the ``deployments.rollback`` workflow rolls it
back through the cluster driver and records the rollback as a deployment,
marking the one it undid as rolled back.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from access import policy
from access.audit import services as audit
from access.models import Tier, User
from access.permissions import ROLLBACK as ROLLBACK_ACTION
from deployments.choices import DeploymentSource, DeploymentStatus, Health, RollbackStatus, WorkloadKind
from deployments.models import ArgoApplication, Deployment, FreezeWindow, RollbackRequest, Workload
from deployments.services import Target, record_deployment
from deployments.sync import workload_health
from environments.models import Environment
from providers.cluster import Workload as SeenWorkload
from providers.cluster import WorkloadRevision
from providers.errors import ProviderError
from regions.drivers import cluster_driver_for
from regions.models import Cluster
from workflows.engine import PlannedStep, StepContext, StepFailed, Workflow, register
from workflows.lifecycle import Lifecycle, Statuses, Verbs
from workflows.models import Direction, Run, RunStatus

ROLLBACK = "deployments.rollback"  # the workflow's kind and the approval's purpose
ROLLBACK_FIELDS = ["workload", "to_revision", "to_version", "from_version", "reason", "status"]


# --- what a rollback page needs to know --------------------------------------------------------------


def active_freeze(environment: Environment | None, *, at: Any = None) -> FreezeWindow | None:
    """The freeze window in force for ``environment`` now (or ``at``), if any."""
    if environment is None:
        return None
    at = at or timezone.now()
    return (
        FreezeWindow.objects.filter(environment=environment, starts_at__lte=at, ends_at__gt=at)
        .order_by("-ends_at")
        .first()
    )


def argocd_application(workload: Workload) -> ArgoApplication | None:
    """The Argo CD application that manages ``workload``, when the sync found one."""
    if not workload.argocd_application:
        return None
    return (
        ArgoApplication.objects.filter(cluster_id=workload.cluster_id, name=workload.argocd_application)
        .filter(gone_at__isnull=True)
        .first()
    )


def argocd_notice(workload: Workload) -> str:
    """What the person must know before rolling back a workload Argo CD manages; empty when it does not."""
    if not workload.argocd_application:
        return ""
    app = argocd_application(workload)
    name = workload.argocd_application
    if app is not None and app.auto_sync:
        return (
            f"Argo CD application {name} manages this workload with auto-sync on: Argo CD will put the "
            f"version in Git ({app.target_revision or 'its target revision'}) back within minutes. The portal "
            "rolls back the workload only and does not turn auto-sync off; to keep the rollback, revert the "
            "change in Git or suspend auto-sync in Argo CD yourself."
        )
    return (
        f"Argo CD application {name} manages this workload (auto-sync off): after the rollback Argo CD will show "
        "it as out of sync with Git until Git is changed to match."
    )


def needs_approval(workload: Workload) -> bool:
    return bool(settings.DEPLOYMENTS_PRODUCTION_ROLLBACK_APPROVAL) and workload.tier == Tier.PRODUCTION


def revision_history(workload: Workload) -> list[WorkloadRevision]:
    """Every revision ``workload``'s cluster keeps of it, newest first (none for a CronJob)."""
    if workload.kind == WorkloadKind.CRON_JOB:
        return []
    driver = cluster_driver_for(workload.cluster)
    return driver.workload_history(workload.kind, workload.namespace, workload.name)  # type: ignore[arg-type]


def same_images(first: Sequence[str], second: Sequence[str]) -> bool:
    """Whether two pod templates run the same images, whatever their containers' order."""
    return sorted(first) == sorted(second)


def running_images(workload: Workload, history: Sequence[WorkloadRevision]) -> list[list[str]]:
    """The images ``workload`` runs now: its current revision's, and those the portal last saw it run.

    Both count, as either can lag the other: the cluster marks a revision
    current only once its controller has caught up with a rollback (the
    sandbox has none), while the portal's row follows what it put back at
    once; after a change made outside the portal, the row lags until the next
    sync.
    """
    running = [list(revision.images) for revision in history if revision.current]
    if workload.images:
        running.append(list(workload.images))
    return running


def runs_now(revision: WorkloadRevision, running: Sequence[Sequence[str]]) -> bool:
    """Whether going back to ``revision`` would change nothing: it is, or has the images of, what runs now.

    Images, not the version string, decide: the version is read from the first
    image's tag only, so two revisions differing in another container (or a
    digest) share a version yet are different, while two with the same images
    are the same version whatever else their templates hold.
    """
    return revision.current or any(same_images(revision.images, images) for images in running)


def rollback_choices(workload: Workload) -> list[WorkloadRevision]:
    """The revisions ``workload`` can go back to, from its cluster, newest first.

    Left out: the current revision and any other that runs the same images
    as the workload now (going back to it would roll back to what runs).
    """
    history = revision_history(workload)
    running = running_images(workload, history)
    return [revision for revision in history if not runs_now(revision, running)]


@dataclass(frozen=True)
class RollbackOptions:
    """What the rollback form offers for a workload: the revisions to go back to (none, with ``problem`` saying
    why, when the cluster cannot be asked), and what stands in the way."""

    revisions: list[WorkloadRevision]
    problem: str
    freeze: FreezeWindow | None
    argocd_notice: str
    needs_approval: bool


def rollback_options(workload: Workload) -> RollbackOptions:
    """The rollback form's choices and obstacles for ``workload``, for the page and the API alike."""
    try:
        revisions, problem = rollback_choices(workload), ""
    except ProviderError as error:
        revisions, problem = [], f"The cluster could not be asked for the workload's revisions: {error}"
    return RollbackOptions(
        revisions=revisions,
        problem=problem,
        freeze=active_freeze(workload.environment),
        argocd_notice=argocd_notice(workload),
        needs_approval=needs_approval(workload),
    )


@dataclass(frozen=True)
class KeptRevision:
    """An earlier version as the cluster keeps it: a revision of a workload, with its images."""

    version: str
    revision: int
    images: tuple[str, ...]


def previous_in_cluster(deployment: Deployment, workloads: Sequence[Workload]) -> KeptRevision | None:
    """What ran before ``deployment`` as its cluster keeps it, when the portal recorded nothing before it.

    The portal takes a previous version only from its own deployment rows, so
    the first deployment it saw at a place has none, while the cluster may
    still keep earlier revisions: the ones the rollback form offers. For a
    deployment a workload runs now, the newest of those is what ran before,
    so the deployment page and the rollback form tell the same story. None
    when a previous version is recorded, no workload runs this one, or the
    cluster keeps nothing earlier or cannot be asked (the rollback form says
    so then).
    """
    if deployment.previous_version:
        return None
    for workload in workloads:
        if workload.is_gone or workload.kind == WorkloadKind.CRON_JOB or workload.version != deployment.version:
            continue
        try:
            choices = rollback_choices(workload)
        except ProviderError:
            continue
        if choices:
            newest = choices[0]
            return KeptRevision(version_of(newest.images), newest.revision, newest.images)
    return None


def version_of(images: Sequence[str]) -> str:
    """The tag of the first image (``registry/app:1.4.2`` → ``1.4.2``), or its short digest."""
    if not images:
        return ""
    image = images[0]
    if "@" in image:
        return image.rsplit("@", 1)[1].removeprefix("sha256:")[:12]
    last = image.rsplit("/", 1)[-1]
    return last.rsplit(":", 1)[1] if ":" in last else "latest"


def rollback_url(rollback: RollbackRequest) -> str:
    return reverse("deployments:rollback", kwargs={"pk": rollback.pk})


# --- asking ---------------------------------------------------------------------------------------


@transaction.atomic
def rollback_request(
    *,
    actor: User,
    workload_id: int,
    to_revision: int,
    reason: str,
    argocd_acknowledged: bool = False,
    idempotency_key: str = "",
) -> RollbackRequest:
    """Ask to roll ``workload_id`` back to ``to_revision``; started at once or held for approval.

    Asking again with the same ``idempotency_key`` returns the first request.
    Refusals are ``ValidationError`` with the reason; a workload outside the
    actor's reach is ``PermissionDenied`` / ``Http404`` from the policy.
    """
    if idempotency_key:
        earlier = RollbackRequest.objects.filter(requested_by=actor, idempotency_key=idempotency_key).first()
        if earlier is not None:
            return earlier
    workload = policy.get_for_update(
        Workload.objects.select_related("cluster__region", "service", "environment"),
        actor,
        ROLLBACK_ACTION,
        pk=workload_id,
    )
    if not reason.strip():
        raise ValidationError({"reason": "Say why: the approvers and the audit log need it."})
    if workload.is_gone:
        raise ValidationError("This workload is gone from its cluster; there is nothing to roll back.")
    if workload.kind == WorkloadKind.CRON_JOB:
        raise ValidationError("A CronJob keeps no revisions to roll back to; deploy the earlier version instead.")
    freeze = active_freeze(workload.environment)
    if freeze is not None:
        until = timezone.localtime(freeze.ends_at)
        raise ValidationError(
            f"{workload.environment} is frozen until {until:%d %b %Y %H:%M}: {freeze.reason}. "
            "Nothing may be deployed or rolled back there until then."
        )
    notice = argocd_notice(workload)
    if notice and not argocd_acknowledged:
        raise ValidationError({"argocd_acknowledged": f"{notice} Confirm that you have read this."})
    try:
        history = revision_history(workload)
    except ProviderError as error:
        raise ValidationError(f"The cluster could not be asked for the workload's revisions: {error}") from error
    running = running_images(workload, history)
    target = next((revision for revision in history if revision.revision == to_revision), None)
    if target is None:
        offered = ", ".join(str(kept.revision) for kept in history if not runs_now(kept, running)) or "none"
        raise ValidationError({"to_revision": f"Revision {to_revision} is not one to go back to (offered: {offered})."})
    if runs_now(target, running):
        version = version_of(target.images) or workload.version
        raise ValidationError(
            {
                "to_revision": f"Revision {to_revision} runs {version}, the version running now: "
                "there is nothing to roll back to there."
            }
        )
    approval = needs_approval(workload)
    try:
        with transaction.atomic():
            rollback = RollbackRequest.objects.create(
                workload=workload,
                to_revision=target.revision,
                to_images=list(target.images),
                to_version=version_of(target.images),
                from_version=workload.version,
                reason=reason.strip(),
                requested_by=actor,
                status=RollbackStatus.PENDING_APPROVAL if approval else RollbackStatus.RUNNING,
                idempotency_key=idempotency_key,
            )
    except IntegrityError as error:
        raise ValidationError("A rollback of this workload is already waiting or under way.") from error
    audit.record(
        audit.ROLLBACK_REQUESTED,
        rollback,
        actor=actor,
        after=audit.snapshot(rollback, ROLLBACK_FIELDS),
        team=workload.team,
    )
    if approval:
        ROLLBACKS.hold_for_approval(
            rollback,
            actor=actor,
            summary=f"Roll back {workload} from {workload.version} to {rollback.to_version} (production)",
            reasons=[f"Production rollbacks need an approval. Reason given: {rollback.reason}"],
        )
    else:
        ROLLBACKS.start(rollback, actor=actor)
    return rollback


class Rollbacks(Lifecycle[RollbackRequest]):
    """A rollback: started at once, or after a production approval; retried from its failed step. Its one
    cluster step is itself the undo of a deployment, so it is cancelled only while it waits for approval."""

    model = RollbackRequest
    kind = ROLLBACK
    noun = "rollback"
    statuses = Statuses(
        pending=RollbackStatus.PENDING_APPROVAL,
        running=RollbackStatus.RUNNING,
        failed=RollbackStatus.FAILED,
        rejected=RollbackStatus.REJECTED,
        cancelled=RollbackStatus.CANCELLED,
        outcomes={
            (Direction.FORWARD, RunStatus.SUCCEEDED): RollbackStatus.SUCCEEDED,
            (Direction.FORWARD, RunStatus.FAILED): RollbackStatus.FAILED,
            (Direction.FORWARD, RunStatus.CANCELLED): RollbackStatus.CANCELLED,
        },
    )
    verbs = Verbs(
        started=audit.ROLLBACK_STARTED,
        rejected=audit.ROLLBACK_REJECTED,
        finished=audit.ROLLBACK_FINISHED,
        cancelled=audit.ROLLBACK_CANCELLED,
        retried=audit.ROLLBACK_RETRIED,
    )
    cancel_while_running = False
    related = ("workload", "requested_by")

    def run_key(self, request: RollbackRequest) -> str:
        return f"rollback:{request.pk}"

    def run_params(self, request: RollbackRequest) -> Mapping[str, Any]:
        workload = request.workload
        return {
            "cluster_id": workload.cluster_id,
            "kind": workload.kind,
            "namespace": workload.namespace,
            "name": workload.name,
            "to_revision": request.to_revision,
            "to_images": request.to_images,
        }

    def url(self, request: RollbackRequest) -> str:
        return rollback_url(request)

    def audit_context(self, request: RollbackRequest) -> dict[str, Any]:
        return {"team": request.workload.team}

    def on_finish(self, request: RollbackRequest, status: str, run: Run) -> list[str]:
        request.error = run.error or ""
        return ["error"]

    def notification_kind(self, status: str) -> str:
        return f"deployments.rollback_{status}"

    def title(self, request: RollbackRequest, status: str, run: Run) -> str:
        words: dict[str, str] = {
            RollbackStatus.SUCCEEDED: "is done",
            RollbackStatus.FAILED: "failed",
            RollbackStatus.CANCELLED: "was cancelled",
        }
        what = words[status]
        return f"Rollback of {request.workload.name} to {request.to_version} {what}"


ROLLBACKS = Rollbacks()


@transaction.atomic
def rollback_cancel(*, actor: User, rollback_id: int) -> RollbackRequest:
    """Cancel a rollback waiting for approval (its approval is withdrawn). One under way runs to its end."""
    return ROLLBACKS.cancel(actor=actor, pk=rollback_id)


@transaction.atomic
def rollback_retry(*, actor: User, rollback_id: int) -> RollbackRequest:
    """Roll back again from the failed step (the step leaves a workload already on the revision alone)."""
    return ROLLBACKS.retry(actor=actor, pk=rollback_id)


# --- doing ----------------------------------------------------------------------------------------


@register
class RollbackWorkload(Workflow):
    """Put back an earlier revision's pod template, then record it as a deployment."""

    kind = ROLLBACK

    def plan(self, params: Mapping[str, Any]) -> Sequence[PlannedStep]:
        what = f"{params['kind']} {params['namespace']}/{params['name']}"
        return [
            PlannedStep(f"Roll back {what} to revision {params['to_revision']}", "rollback"),
            PlannedStep("Record the deployment", "record"),
        ]

    def do_rollback(self, ctx: StepContext) -> Mapping[str, Any]:
        """Idempotent: a workload already running the revision's images is left alone (a retried step)."""
        params = ctx.run_params
        driver = cluster_driver_for(Cluster.objects.select_related("region__account").get(pk=params["cluster_id"]))
        now = [
            workload
            for workload in driver.list_workloads(params["namespace"])
            if workload.kind == params["kind"] and workload.name == params["name"]
        ]
        if not now:
            raise StepFailed(f"{params['kind']} {params['namespace']}/{params['name']} is no longer in the cluster.")
        if list(now[0].images) == list(params["to_images"]):
            return {**_state(now[0]), "already": True}
        return _state(
            driver.rollback_workload(params["kind"], params["namespace"], params["name"], params["to_revision"])
        )

    def do_record(self, ctx: StepContext) -> Mapping[str, Any]:
        rollback = RollbackRequest.objects.select_related(
            "workload__service", "workload__environment", "workload__cluster", "requested_by"
        ).get(pk=ctx.subject_id)
        done = ctx.outputs.get(self.plan(ctx.run_params)[0].name, {})
        deployment = _record(
            rollback,
            images=done.get("images", rollback.to_images),
            revision=done.get("revision"),
            health=done.get("health", Health.UNKNOWN),
        )
        return {"deployment": deployment.pk}


def _state(seen: SeenWorkload) -> dict[str, Any]:
    """What the cluster answered of the workload after the rollback: its images, revision and health."""
    return {"images": list(seen.images), "revision": seen.revision, "health": workload_health(seen).value}


@transaction.atomic
def _record(rollback: RollbackRequest, *, images: Sequence[str], revision: int | None, health: str) -> Deployment:
    """The rollback as a deployment, the deployment it undid marked rolled back, the workload row updated.

    The workload's health and rollout time are the cluster's answer to the rollback, not what the last sync saw
    before it: a rollout still under way is recorded in progress, and the next sync completes it.
    """
    workload = Workload.objects.select_for_update().get(pk=rollback.workload_id)
    target = Target(
        service=workload.service,
        environment=workload.environment,
        cluster=workload.cluster,
        namespace=workload.namespace,
        workload=workload,
    )
    undone = (
        Deployment.objects.filter(target.filter(), version=rollback.from_version)
        .exclude(status=DeploymentStatus.ROLLED_BACK)
        .order_by("-started_at", "-pk")
        .first()
    )
    now = timezone.now()
    deployment = record_deployment(
        target,
        version=rollback.to_version,
        source=DeploymentSource.ROLLBACK,
        started_at=rollback.updated_at if rollback.updated_at < now else now,
        status=DeploymentStatus.IN_PROGRESS if health == Health.PROGRESSING else DeploymentStatus.SUCCEEDED,
        finished_at=None if health == Health.PROGRESSING else now,
        images=images,
        revision=revision,
        triggered_by=rollback.requested_by.username,
    )
    if undone is not None and undone.pk != deployment.pk:
        undone.status, undone.rolled_back_by = DeploymentStatus.ROLLED_BACK, deployment
        undone.save(update_fields=["status", "rolled_back_by"])
    workload.images, workload.version, workload.revision = list(images), rollback.to_version, revision
    workload.health, workload.rolled_out_at = health, now
    workload.save(update_fields=["images", "version", "revision", "health", "rolled_out_at"])
    RollbackRequest.objects.filter(pk=rollback.pk).update(deployment=deployment)
    return deployment
