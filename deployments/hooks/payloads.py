"""CI/CD webhooks: authenticating a delivery and reading it into a normalised event. Pure: no database.

Each provider authenticates differently (:func:`authenticate`):

- GitHub signs the raw body with HMAC-SHA256 and the shared secret
  (``X-Hub-Signature-256: sha256=<hex>``);
- GitLab sends the secret itself (``X-Gitlab-Token``);
- Azure DevOps service hooks use basic authentication; the password is the
  secret (the user name is not checked).

Every comparison is constant-time. :func:`parse` turns an authenticated body
into an :class:`Event`: a pipeline run report (its stages in pipeline order),
a deployment report, or both. It raises :class:`Ignored` for events the portal
does not use (GitHub ``ping`` or ``push``) and :class:`Rejected` for a body that
is not JSON, lacks a field the event needs, or names no event at all. The
effects (upserting the run, recording the deployment) are in
:mod:`deployments.hooks.services`.

Conventions of the portal (docs/deployments.md, "CI/CD webhooks", says which provider
fills in what):

- a stage's kind comes from its name (:func:`stage_kind`);
- Azure DevOps deploy stages are named ``deploy_<environment>`` (also
  ``deploy-<environment>``): the environment is the rest of the name;
- the image tag and the security-scan counts are in no native payload: they
  are read from the deployment's own payload where one exists (GitHub
  ``deployment.payload.image_tag`` and ``deployment.payload.security``; GitLab
  pipeline variables ``IMAGE_TAG`` and ``SECURITY_CRITICAL`` / ``_HIGH`` /
  ``_MEDIUM`` / ``_LOW``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from django.utils.dateparse import parse_datetime

from deployments.choices import CiProvider, DeploymentStatus, RunStatus, StageKind

SEVERITIES = ("critical", "high", "medium", "low")
FINAL_RUN_STATUSES = frozenset({RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED, RunStatus.SKIPPED})


class Rejected(Exception):
    """A delivery the portal refuses: answered with ``status`` and a structured error, nothing stored."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


class Ignored(Exception):
    """An authentic delivery of an event the portal does not use: answered 202, nothing stored."""

    def __init__(self, event: str) -> None:
        super().__init__(event)
        self.event = event


def invalid(message: str) -> Rejected:
    return Rejected(400, "invalid", message)


# --- authentication -------------------------------------------------------------------------


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())


def github_signature(secret: str, body: bytes) -> str:
    """The ``X-Hub-Signature-256`` value GitHub sends for ``body`` (tests sign with it too)."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def basic_authorization(user: str, password: str) -> str:
    """An ``Authorization`` header value for basic authentication, as Azure DevOps sends it."""
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def authenticate(provider: str, secret: str, headers: Mapping[str, str], body: bytes) -> None:
    """Raise :class:`Rejected` (401, ``signature_invalid``) unless the delivery carries the source's secret."""
    if provider == CiProvider.GITHUB:
        ok = _same(headers.get("X-Hub-Signature-256", ""), github_signature(secret, body))
    elif provider == CiProvider.GITLAB:
        ok = _same(headers.get("X-Gitlab-Token", ""), secret)
    elif provider == CiProvider.AZURE_DEVOPS:
        ok = _same(_basic_password(headers.get("Authorization", "")), secret)
    else:
        ok = False
    if not ok:
        raise Rejected(401, "signature_invalid", "The delivery's signature or token does not match this source.")


def _basic_password(header: str) -> str:
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic" or not encoded:
        return ""
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return ""
    return decoded.partition(":")[2]


# --- the normalised event -------------------------------------------------------------------


@dataclass(frozen=True)
class Stage:
    """One stage (a GitHub job, a GitLab job, an Azure DevOps stage) as a run report gives it."""

    name: str
    kind: StageKind
    status: RunStatus
    started_at: datetime | None = None
    finished_at: datetime | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": str(self.kind),
            "status": str(self.status),
            "started_at": self.started_at.isoformat() if self.started_at else None,
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
        }


@dataclass(frozen=True)
class RunReport:
    """What one delivery says about a pipeline run; blank fields say nothing.

    ``all_stages`` is true when ``stages`` is the whole pipeline in order
    (GitLab's pipeline hook); otherwise the stages are merged into what is known.
    """

    external_id: str
    name: str = ""
    url: str = ""
    status: RunStatus | None = None
    stages: tuple[Stage, ...] = ()
    all_stages: bool = False
    commit_sha: str = ""
    commit_at: datetime | None = None
    branch: str = ""
    triggered_by: str = ""
    repository_url: str = ""
    started_at: datetime | None = None
    finished_at: datetime | None = None
    image_tag: str = ""
    security: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class DeployReport:
    """A deployment a delivery reports: to the environment of that name, of a version of the commit."""

    environment: str
    status: DeploymentStatus
    at: datetime
    commit_sha: str = ""
    image_tag: str = ""
    security: dict[str, int] = field(default_factory=dict)
    triggered_by: str = ""
    repository_url: str = ""
    run_external_id: str = ""
    finished_at: datetime | None = None
    # The version when neither an image tag nor a commit is known (Azure DevOps: the run's build number).
    fallback_version: str = ""


@dataclass(frozen=True)
class Event:
    """One authenticated delivery, read: its id (for replay safety), its own time, and what it reports."""

    delivery_id: str
    event: str
    occurred_at: datetime | None
    run: RunReport | None = None
    deployment: DeployReport | None = None


# --- helpers --------------------------------------------------------------------------------

_POST_DEPLOY = ("smoke", "post-deploy", "post_deploy", "postdeploy", "verify", "verification")
_SECURITY = ("security", "scan", "trivy", "snyk", "sast", "dast", "codeql", "grype")
_DEPLOY = ("deploy", "release", "rollout")
_BUILD = ("build", "compile", "test", "lint", "package")


def stage_kind(*names: str) -> StageKind:
    """The kind of a stage from its name (then from the names after it, e.g. GitLab's stage of a job).

    Post-deploy words are looked for first (``post-deploy`` also says deploy),
    then security, deploy and build; anything else is ``other``.
    """
    for name in names:
        lowered = name.lower()
        for words, kind in (
            (_POST_DEPLOY, StageKind.POST_DEPLOY),
            (_SECURITY, StageKind.SECURITY),
            (_DEPLOY, StageKind.DEPLOY),
            (_BUILD, StageKind.BUILD),
        ):
            if any(word in lowered for word in words):
                return kind
    return StageKind.OTHER


_AZURE_DEPLOY_STAGE = re.compile(r"^deploy[_-](?P<environment>[A-Za-z0-9][A-Za-z0-9_.-]*)$", re.IGNORECASE)


def azure_deploy_environment(stage_name: str) -> str:
    """The environment of an Azure DevOps deploy stage named ``deploy_<environment>``; "" for other stages."""
    match = _AZURE_DEPLOY_STAGE.match(stage_name)
    return match.group("environment").replace("_", "-").lower() if match else ""


def _dig(data: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(data, Mapping):
            return None
        data = data.get(key)
    return data


def _text(data: Any, *path: str) -> str:
    value = _dig(data, *path)
    return str(value) if isinstance(value, str | int) and not isinstance(value, bool) else ""


def _required(data: Any, *path: str) -> str:
    value = _text(data, *path)
    if not value:
        raise invalid(f"The payload has no {'.'.join(path)}.")
    return value


def _when(value: Any) -> datetime | None:
    """A timestamp in any of the forms the providers send (ISO 8601; GitLab's ``2016-08-12 15:23:28 UTC``)."""
    if not isinstance(value, str) or not value:
        return None
    text = value.strip()
    if text.endswith(" UTC"):
        text = text[: -len(" UTC")] + "+00:00"
    text = re.sub(r" ([+-]\d{2})(\d{2})$", r"\1:\2", text)  # "2021-04-28 21:50:00 +0200"
    # Azure DevOps sends seven fractional digits; Python reads at most six.
    text = re.sub(r"(\.\d{6})\d+", r"\1", text)
    try:
        parsed = parse_datetime(text)
    except ValueError:
        return None
    if parsed is None or parsed.tzinfo is None:
        return None
    return parsed


def _latest(*moments: datetime | None) -> datetime | None:
    known = [moment for moment in moments if moment is not None]
    return max(known) if known else None


def _security(counts: Any) -> dict[str, int]:
    if not isinstance(counts, Mapping):
        return {}
    return {
        severity: int(counts[severity])
        for severity in SEVERITIES
        if isinstance(counts.get(severity), int) and not isinstance(counts.get(severity), bool)
    }


def load_json(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise invalid("The body is not JSON.") from error
    if not isinstance(data, dict):
        raise invalid("The body is not a JSON object.")
    return data


# --- GitHub ---------------------------------------------------------------------------------

_GITHUB_RUN_STATUS = {
    "requested": RunStatus.QUEUED,
    "queued": RunStatus.QUEUED,
    "waiting": RunStatus.QUEUED,
    "pending": RunStatus.QUEUED,
    "in_progress": RunStatus.RUNNING,
}
_GITHUB_CONCLUSION = {
    "success": RunStatus.SUCCEEDED,
    "neutral": RunStatus.SUCCEEDED,
    "failure": RunStatus.FAILED,
    "timed_out": RunStatus.FAILED,
    "startup_failure": RunStatus.FAILED,
    "action_required": RunStatus.FAILED,
    "cancelled": RunStatus.CANCELLED,
    "skipped": RunStatus.SKIPPED,
    "stale": RunStatus.CANCELLED,
}
_GITHUB_DEPLOYMENT_STATE = {
    "success": DeploymentStatus.SUCCEEDED,
    "failure": DeploymentStatus.FAILED,
    "error": DeploymentStatus.FAILED,
    "in_progress": DeploymentStatus.IN_PROGRESS,
    "queued": DeploymentStatus.IN_PROGRESS,
    "pending": DeploymentStatus.IN_PROGRESS,
}


def _github_status(status: str, conclusion: str) -> RunStatus:
    if status == "completed":
        return _GITHUB_CONCLUSION.get(conclusion, RunStatus.FAILED)
    return _GITHUB_RUN_STATUS.get(status, RunStatus.RUNNING)


def _github_run_id(run_id: str, attempt: str) -> str:
    return f"{run_id}-{attempt or '1'}"


def _github_deployment_payload(deployment: Mapping[str, Any]) -> dict[str, Any]:
    payload = deployment.get("payload")
    if isinstance(payload, str) and payload:
        try:
            payload = json.loads(payload)
        except json.JSONDecodeError:
            return {}
    return payload if isinstance(payload, dict) else {}


def parse_github(headers: Mapping[str, str], data: dict[str, Any]) -> Event:
    event = headers.get("X-GitHub-Event", "")
    delivery = headers.get("X-GitHub-Delivery", "")
    if not delivery:
        raise invalid("The delivery has no X-GitHub-Delivery header.")
    repository_url = _text(data, "repository", "html_url")
    if event == "workflow_run":
        run = data.get("workflow_run")
        if not isinstance(run, dict):
            raise invalid("The payload has no workflow_run.")
        status = _github_status(_required(run, "status"), _text(run, "conclusion"))
        started = _when(run.get("run_started_at")) or _when(run.get("created_at"))
        updated = _when(run.get("updated_at"))
        report = RunReport(
            external_id=_github_run_id(_required(run, "id"), _text(run, "run_attempt")),
            name=_text(run, "name"),
            url=_text(run, "html_url"),
            status=status,
            commit_sha=_required(run, "head_sha"),
            commit_at=_when(_dig(run, "head_commit", "timestamp")),
            branch=_text(run, "head_branch"),
            triggered_by=_text(run, "triggering_actor", "login") or _text(run, "actor", "login"),
            repository_url=repository_url or _text(run, "repository", "html_url"),
            started_at=started,
            finished_at=updated if status in FINAL_RUN_STATUSES else None,
        )
        return Event(delivery, event, _latest(updated, started), run=report)
    if event == "workflow_job":
        job = data.get("workflow_job")
        if not isinstance(job, dict):
            raise invalid("The payload has no workflow_job.")
        name = _required(job, "name")
        started = _when(job.get("started_at"))
        finished = _when(job.get("completed_at"))
        stage = Stage(
            name=name,
            kind=stage_kind(name),
            status=_github_status(_required(job, "status"), _text(job, "conclusion")),
            started_at=started,
            finished_at=finished,
        )
        report = RunReport(
            external_id=_github_run_id(_required(job, "run_id"), _text(job, "run_attempt")),
            name=_text(job, "workflow_name"),
            stages=(stage,),
            commit_sha=_required(job, "head_sha"),
            branch=_text(job, "head_branch"),
            repository_url=repository_url,
        )
        return Event(delivery, event, _latest(_when(job.get("created_at")), started, finished), run=report)
    if event == "deployment_status":
        status_ = data.get("deployment_status")
        deployment = data.get("deployment")
        if not isinstance(status_, dict) or not isinstance(deployment, dict):
            raise invalid("The payload has no deployment_status or deployment.")
        state = _required(status_, "state")
        if state not in _GITHUB_DEPLOYMENT_STATE:  # "inactive": an older deployment replaced, nothing to record
            raise Ignored(f"{event}:{state}")
        payload = _github_deployment_payload(deployment)
        at = _when(status_.get("created_at")) or _when(deployment.get("created_at"))
        if at is None:
            raise invalid("The payload has no deployment_status.created_at.")
        workflow_run = data.get("workflow_run")
        run_id = ""
        if isinstance(workflow_run, dict) and _text(workflow_run, "id"):
            run_id = _github_run_id(_text(workflow_run, "id"), _text(workflow_run, "run_attempt"))
        result = _GITHUB_DEPLOYMENT_STATE[state]
        deployment_report = DeployReport(
            environment=_text(status_, "environment") or _required(deployment, "environment"),
            status=result,
            at=_when(deployment.get("created_at")) or at,
            commit_sha=_required(deployment, "sha"),
            image_tag=_text(payload, "image_tag"),
            security=_security(payload.get("security")),
            triggered_by=_text(deployment, "creator", "login") or _text(data, "sender", "login"),
            repository_url=repository_url,
            run_external_id=run_id,
            finished_at=at if result != DeploymentStatus.IN_PROGRESS else None,
        )
        occurred = _latest(at, _when(status_.get("updated_at")))
        return Event(delivery, event, occurred, deployment=deployment_report)
    if not re.fullmatch(r"[a-z_]+", event):
        raise invalid("The delivery names no GitHub event (X-GitHub-Event).")
    raise Ignored(event)


# --- GitLab ---------------------------------------------------------------------------------

_GITLAB_STATUS = {
    "created": RunStatus.QUEUED,
    "waiting_for_resource": RunStatus.QUEUED,
    "preparing": RunStatus.QUEUED,
    "pending": RunStatus.QUEUED,
    "scheduled": RunStatus.QUEUED,
    "manual": RunStatus.QUEUED,
    "running": RunStatus.RUNNING,
    "success": RunStatus.SUCCEEDED,
    "failed": RunStatus.FAILED,
    "canceled": RunStatus.CANCELLED,
    "canceling": RunStatus.CANCELLED,
    "skipped": RunStatus.SKIPPED,
}
_GITLAB_DEPLOYMENT_STATUS = {
    "created": DeploymentStatus.IN_PROGRESS,
    "running": DeploymentStatus.IN_PROGRESS,
    "success": DeploymentStatus.SUCCEEDED,
    "failed": DeploymentStatus.FAILED,
    "canceled": DeploymentStatus.FAILED,
}


def _gitlab_variables(attributes: Mapping[str, Any]) -> dict[str, str]:
    variables = attributes.get("variables")
    if not isinstance(variables, list):
        return {}
    return {
        str(item["key"]): str(item.get("value", ""))
        for item in variables
        if isinstance(item, dict) and isinstance(item.get("key"), str)
    }


def _gitlab_security(variables: Mapping[str, str]) -> dict[str, int]:
    counts = {}
    for severity in SEVERITIES:
        value = variables.get(f"SECURITY_{severity.upper()}", "")
        if value.isdigit():
            counts[severity] = int(value)
    return counts


def parse_gitlab(headers: Mapping[str, str], data: dict[str, Any]) -> Event:
    event = headers.get("X-Gitlab-Event", "")
    # GitLab 17.4+ sends an Idempotency-Key that stays the same when it retries a delivery; older
    # versions only the event's UUID.
    delivery = headers.get("Idempotency-Key", "") or headers.get("X-Gitlab-Event-UUID", "")
    if not delivery:
        raise invalid("The delivery has no Idempotency-Key or X-Gitlab-Event-UUID header.")
    repository_url = _text(data, "project", "web_url")
    if event == "Pipeline Hook":
        attributes = data.get("object_attributes")
        if data.get("object_kind") != "pipeline" or not isinstance(attributes, dict):
            raise invalid("The payload is not a pipeline event (object_kind, object_attributes).")
        order = [name for name in attributes.get("stages") or [] if isinstance(name, str)]
        builds = [build for build in data.get("builds") or [] if isinstance(build, dict)]

        def position(build: dict[str, Any]) -> tuple[int, int]:
            stage = _text(build, "stage")
            number = build.get("id")
            return (
                order.index(stage) if stage in order else len(order),
                number if isinstance(number, int) else 0,
            )

        stages = tuple(
            Stage(
                name=_required(build, "name"),
                kind=stage_kind(_text(build, "name"), _text(build, "stage")),
                status=_GITLAB_STATUS.get(_text(build, "status"), RunStatus.RUNNING),
                started_at=_when(build.get("started_at")),
                finished_at=_when(build.get("finished_at")),
            )
            for build in sorted(builds, key=position)
        )
        variables = _gitlab_variables(attributes)
        status = _GITLAB_STATUS.get(_required(attributes, "status"), RunStatus.RUNNING)
        created = _when(attributes.get("created_at"))
        finished = _when(attributes.get("finished_at"))
        report = RunReport(
            external_id=_required(attributes, "id"),
            name=_text(attributes, "name") or f"Pipeline #{_text(attributes, 'id')}",
            url=_text(attributes, "url")
            or (f"{repository_url}/-/pipelines/{attributes['id']}" if repository_url else ""),
            status=status,
            stages=stages,
            all_stages=True,
            commit_sha=_required(attributes, "sha"),
            commit_at=_when(_dig(data, "commit", "timestamp")),
            branch=_text(attributes, "ref"),
            triggered_by=_text(data, "user", "username"),
            repository_url=repository_url,
            started_at=created,
            finished_at=finished if status in FINAL_RUN_STATUSES else None,
            image_tag=variables.get("IMAGE_TAG", ""),
            security=_gitlab_security(variables),
        )
        moments = [created, finished, *(moment for stage in stages for moment in (stage.started_at, stage.finished_at))]
        return Event(delivery, event, _latest(*moments), run=report)
    if event == "Deployment Hook":
        if data.get("object_kind") != "deployment":
            raise invalid("The payload is not a deployment event (object_kind).")
        state = _required(data, "status")
        if state not in _GITLAB_DEPLOYMENT_STATUS:
            raise Ignored(f"{event}:{state}")
        at = _when(data.get("status_changed_at"))
        if at is None:
            raise invalid("The payload has no status_changed_at.")
        # The deployment hook carries the full SHA only in its commit URL (…/-/commit/<sha>).
        sha = _text(data, "commit_url").rstrip("/").rpartition("/")[2] or _required(data, "short_sha")
        result = _GITLAB_DEPLOYMENT_STATUS[state]
        deployment_report = DeployReport(
            environment=_required(data, "environment"),
            status=result,
            at=at,
            commit_sha=sha,
            triggered_by=_text(data, "user", "username"),
            repository_url=repository_url,
            finished_at=at if result != DeploymentStatus.IN_PROGRESS else None,
        )
        return Event(delivery, event, at, deployment=deployment_report)
    if not event.endswith(" Hook"):
        raise invalid("The delivery names no GitLab event (X-Gitlab-Event).")
    raise Ignored(event)


# --- Azure DevOps ---------------------------------------------------------------------------

AZURE_RUN_STATE_CHANGED = "ms.vss-pipelines.run-state-changed-event"
AZURE_STAGE_STATE_CHANGED = "ms.vss-pipelines.stage-state-changed-event"

_AZURE_RESULT = {
    "succeeded": RunStatus.SUCCEEDED,
    "partiallysucceeded": RunStatus.SUCCEEDED,
    "failed": RunStatus.FAILED,
    "rejected": RunStatus.FAILED,
    "canceled": RunStatus.CANCELLED,
    "skipped": RunStatus.SKIPPED,
}
_AZURE_STATE = {
    "notstarted": RunStatus.QUEUED,
    "waiting": RunStatus.QUEUED,
    "inprogress": RunStatus.RUNNING,
    "running": RunStatus.RUNNING,
    "canceling": RunStatus.CANCELLED,
}


def _azure_status(state: str, result: str) -> RunStatus:
    if state.lower() == "completed":
        return _AZURE_RESULT.get(result.lower(), RunStatus.FAILED)
    return _AZURE_STATE.get(state.lower(), RunStatus.RUNNING)


def _azure_repository(resource: Mapping[str, Any]) -> tuple[str, str, str, datetime | None]:
    """(URL, commit SHA, branch, commit time) of the run's own repository, where the payload has them."""
    self_repository = _dig(resource, "run", "resources", "repositories", "self")
    sha = _text(self_repository, "version")
    branch = _text(self_repository, "refName").removeprefix("refs/heads/")
    url, committed = "", None
    repositories = resource.get("repositories")
    if isinstance(repositories, list) and repositories and isinstance(repositories[0], dict):
        url = _text(repositories[0], "url")
        committed = _when(_dig(repositories[0], "change", "committer", "date"))
    return url, sha, branch, committed


def parse_azure(headers: Mapping[str, str], data: dict[str, Any]) -> Event:
    event = _text(data, "eventType")
    delivery = _text(data, "id")
    if not event or "." not in event:
        raise invalid("The payload names no Azure DevOps event (eventType).")
    if event not in (AZURE_RUN_STATE_CHANGED, AZURE_STAGE_STATE_CHANGED):
        raise Ignored(event)
    if not delivery:
        raise invalid("The payload has no id.")
    resource = data.get("resource")
    if not isinstance(resource, dict) or not isinstance(resource.get("run"), dict):
        raise invalid("The payload has no resource.run.")
    run = resource["run"]
    sent_at = _when(data.get("createdDate"))
    repository_url, sha, branch, committed = _azure_repository(resource)
    pipeline_name = _text(resource, "pipeline", "name") or _text(run, "pipeline", "name")
    run_status = _azure_status(_required(run, "state"), _text(run, "result"))
    external_id = _required(run, "id")
    common = RunReport(
        external_id=external_id,
        name=pipeline_name,
        url=_text(run, "_links", "web", "href"),
        commit_sha=sha,
        commit_at=committed,
        branch=branch,
        repository_url=repository_url,
        started_at=_when(run.get("createdDate")),
    )
    if event == AZURE_RUN_STATE_CHANGED:
        finished = _when(run.get("finishedDate"))
        report = replace(common, status=run_status, finished_at=finished if run_status in FINAL_RUN_STATUSES else None)
        return Event(delivery, event, _latest(sent_at, finished), run=report)
    stage_data = resource.get("stage")
    if not isinstance(stage_data, dict):
        raise invalid("The payload has no resource.stage.")
    name = _required(stage_data, "name")
    status = _azure_status(_required(stage_data, "state"), _text(stage_data, "result"))
    final = status in FINAL_RUN_STATUSES
    stage = Stage(
        name=name,
        kind=stage_kind(name),
        status=status,
        started_at=None if final else sent_at,
        finished_at=sent_at if final else None,
    )
    report = replace(common, status=run_status, stages=(stage,))
    deployment = None
    environment = azure_deploy_environment(name)
    if environment and status != RunStatus.SKIPPED:
        deploy_status = {
            RunStatus.SUCCEEDED: DeploymentStatus.SUCCEEDED,
            RunStatus.FAILED: DeploymentStatus.FAILED,
            RunStatus.CANCELLED: DeploymentStatus.FAILED,
        }.get(status, DeploymentStatus.IN_PROGRESS)
        at = sent_at or common.started_at
        if at is None:
            raise invalid("The payload has no createdDate.")
        deployment = DeployReport(
            environment=environment,
            status=deploy_status,
            at=at,
            commit_sha=sha,
            fallback_version=_text(run, "name"),
            repository_url=repository_url,
            run_external_id=external_id,
            finished_at=sent_at if deploy_status != DeploymentStatus.IN_PROGRESS else None,
        )
    return Event(delivery, event, sent_at, run=report, deployment=deployment)


PARSERS = {
    CiProvider.GITHUB: parse_github,
    CiProvider.GITLAB: parse_gitlab,
    CiProvider.AZURE_DEVOPS: parse_azure,
}


def parse(provider: str, headers: Mapping[str, str], body: bytes) -> Event:
    """Read an authenticated delivery; :class:`Rejected` (400) or :class:`Ignored` when there is nothing to do."""
    data = load_json(body)
    parser = PARSERS.get(CiProvider(provider))
    if parser is None:  # pragma: no cover (every provider has a parser)
        raise invalid("Unknown provider.")
    return parser(headers, data)
