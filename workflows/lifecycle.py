"""One lifecycle for the requests a workflow carries out: environments, region builds, failovers and rollbacks.

A request is asked for (its app validates it, saves it and either holds it
for approval or starts it at once), decided (the approvals app's ``decided``
signal: approved starts the run with the approver as its actor, rejected
ends it), carried out by a workflow run, and finished when the run ends (the
engine's ``run_finished`` signal). Along the way it may be

- **cancelled**: one waiting for approval has its approval withdrawn; one
  under way has its run stopped between two steps, and for kinds whose runs
  can be undone, a cancel after a step began undoes what the run made (the
  request ends torn down / rolled back). Kinds whose work cannot be taken
  back (a promotion, a rollout) cannot be cancelled once they run;
- **retried** from the failed step (forward or undo run alike);
- **undone**: the finished run's undo (an environment's teardown, a failed
  build's rollback).

Each app describes its kind once, as a :class:`Lifecycle` subclass: its
statuses, audit verbs and words, and the few things only it knows (the run's
parameters, what must hold before a start or a retry, what success changes
elsewhere). Its services, receivers and views go through the lifecycle, so
every kind moves the same way: each transition takes the request's row lock,
writes one audit event, tells the requester once (notifications are keyed by
the run and the outcome), and a transition from a state the request has
already left changes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, TypeVar

from django.core.exceptions import ValidationError
from django.db import models

from access import policy
from access.audit import services as audit
from access.models import User
from approvals.models import ApprovalRequest
from approvals.services import request_approval, withdraw_pending
from notifications.services import Message, notify
from workflows import engine
from workflows.models import Direction, Run, RunStatus
from workflows.selectors import latest_run

R = TypeVar("R", bound=models.Model)


@dataclass(frozen=True)
class Statuses:
    """A kind's statuses for each stage, and the status each end of a run leads to."""

    pending: str
    running: str
    failed: str
    rejected: str
    cancelled: str
    #: While the run's undo runs; empty for kinds whose runs are never undone.
    undoing: str = ""
    #: (direction, run status) -> the request's status; an end not listed leaves the request as it is.
    outcomes: Mapping[tuple[str, str], str] = field(default_factory=dict)


@dataclass(frozen=True)
class Verbs:
    """The audit verbs of a kind's transitions (see :mod:`access.audit.services`)."""

    started: str
    rejected: str
    finished: str
    cancelled: str
    retried: str
    undo_started: str = ""


def began(run: Run) -> bool:
    """Whether any step of the run began (so there may be something to undo)."""
    return run.steps.filter(started_at__isnull=False).exists()


class Lifecycle(Generic[R]):
    """A kind of request. Subclass, set the class attributes and the methods marked "the kind's"."""

    model: ClassVar[type[models.Model]]
    #: The workflow's kind and the approval's purpose.
    kind: ClassVar[str]
    #: What people call one, in messages: "environment", "build", "failover", "rollback".
    noun: ClassVar[str]
    statuses: ClassVar[Statuses]
    verbs: ClassVar[Verbs]
    #: Whether a request under way may be cancelled (its run stopped between two steps).
    cancel_while_running: ClassVar[bool] = True
    #: ``select_related`` of the locked request: what the kind's methods read.
    related: ClassVar[Sequence[str]] = ("requested_by",)

    # --- the kind's --------------------------------------------------------------------------------------

    def run_key(self, request: R) -> str:
        raise NotImplementedError

    def run_params(self, request: R) -> Mapping[str, Any]:
        raise NotImplementedError

    def url(self, request: R) -> str:
        raise NotImplementedError

    def title(self, request: R, status: str, run: Run) -> str:
        """The notification's title when a run ends with ``status``."""
        raise NotImplementedError

    def notification_kind(self, status: str) -> str:
        return f"{self.kind.split('.')[0]}.{status}"

    def audit_context(self, request: R) -> dict[str, Any]:
        """What every audit event of the kind carries besides the object (its team, for one)."""
        return {}

    def check_start(self, request: R, *, actor: User | None, approval: ApprovalRequest | None) -> None:
        """Refuse (ValidationError) to start a request the world no longer allows; the decision rolls back."""

    def on_start(self, request: R) -> list[str]:
        """Change the request as its run starts; the fields changed."""
        return []

    def start_details(self, request: R, run: Run) -> dict[str, Any]:
        return {}

    def check_retry(self, request: R, run: Run, *, actor: User) -> None:
        """Refuse (ValidationError) to retry a failed run the world no longer allows."""

    def on_finish(self, request: R, status: str, run: Run) -> list[str]:
        """Change the request (or the world) as its run ends with ``status``; the fields changed."""
        return []

    def finish_details(self, request: R, run: Run) -> dict[str, Any]:
        return {}

    def cannot_cancel(self, request: R) -> str:
        return f"A {self.noun} that is {_status_words(request)} cannot be cancelled."

    # --- reads -------------------------------------------------------------------------------------------

    def forward_run(self, request: R) -> Run | None:
        """The request's run (its undo's parent), or None before it started."""
        return Run.objects.filter(key=self.run_key(request)).first()

    def _queryset(self) -> models.QuerySet[Any]:
        return self.model._default_manager.select_related(*self.related)

    def locked(self, pk: Any) -> R | None:
        """The request, locked; None when it is gone (a deleted request has nothing left to move)."""
        found: R | None = self._queryset().select_for_update(of=("self",)).filter(pk=pk).first()
        return found

    def locked_for(self, actor: User, pk: Any) -> R:
        """The request, locked, if ``actor`` may change it (404 unseen, 403 seen but not changeable)."""
        policy.forget(actor)
        found: R = policy.get_for_update(self._queryset(), actor, policy.CHANGE, pk=pk)
        return found

    # --- transitions -------------------------------------------------------------------------------------

    def hold_for_approval(
        self,
        request: R,
        *,
        actor: User,
        summary: str,
        reasons: Sequence[str],
        required_approvals: int = 1,
    ) -> ApprovalRequest:
        """Ask the approvers (the requester never decides it); the request stays pending until they decide."""
        return request_approval(
            request,
            purpose=self.kind,
            requested_by=actor,
            summary=summary,
            reasons=reasons,
            url=self.url(request),
            required_approvals=required_approvals,
        )

    def decided(self, approval: ApprovalRequest, *, approved: bool, by: User | None = None) -> None:
        """The approval was decided (inside its transaction): start the run as the approver, or reject.

        ``by`` is whose verdict settled it, as they signed in (an API token's limits with them); read from the
        decisions when not given."""
        request = self.locked(approval.subject_id)
        if request is None or _status(request) != self.statuses.pending:
            return
        decider = by if by is not None else approval.decided_by()
        if approved:
            self.start(request, actor=decider, approval=approval)
        else:
            self._move(request, self.statuses.rejected, self.verbs.rejected, actor=decider, approval=approval.pk)

    def start(self, request: R, *, actor: User | None, approval: ApprovalRequest | None = None) -> Run:
        """Start the run (enqueued on commit; once per request) and mark the request under way."""
        self.check_start(request, actor=actor, approval=approval)
        fields = self.on_start(request)
        run = engine.start(
            self.kind, key=self.run_key(request), subject=request, params=self.run_params(request), user=actor
        )
        details: dict[str, Any] = {}
        if approval is not None:
            deciders = approval.decisions.select_related("approver").order_by("pk")
            details = {"approval": approval.pk, "approvers": [d.approver.get_username() for d in deciders]}
        self._move(
            request,
            self.statuses.running,
            self.verbs.started,
            actor=actor,
            fields=fields,
            after={"run": run.key, **self.start_details(request, run)},
            **details,
        )
        return run

    def finished(self, run: Run) -> None:
        """The request's run ended (inside its transaction): the status follows, the requester is told once.

        A cancelled run that began a step is undone at once (for kinds that
        undo), so a cancel leaves nothing behind.
        """
        if run.kind != self.kind or not run.subject_id:
            return
        request = self.locked(run.subject_id)
        status = self.statuses.outcomes.get((run.direction, run.status))
        if request is None or status is None:
            return
        if _status(request) not in (self.statuses.running, self.statuses.undoing):
            return  # moved on already: this end was heard before
        if (
            status == self.statuses.cancelled
            and self.statuses.undoing
            and run.direction == Direction.FORWARD
            and began(run)
        ):
            engine.undo(run)
            status = self.statuses.undoing
        fields = self.on_finish(request, status, run)
        self._move(
            request,
            status,
            self.verbs.finished,
            actor=None,
            fields=fields,
            after=self.finish_details(request, run),
            run=run.key,
            error=run.error,
        )
        notify(
            [_requester(request)],
            Message(
                kind=self.notification_kind(status),
                title=self.title(request, status, run),
                body=run.error,
                url=self.url(request),
                key=f"{run.key}:{status}",
            ),
        )

    def cancel(self, *, actor: User, pk: Any) -> R:
        """Cancel a request waiting for approval (the approval is withdrawn) or under way (its run stops and,
        when a step began, is undone). In a transaction."""
        request = self.locked_for(actor, pk)
        before = _status(request)
        if before == self.statuses.pending:
            withdraw_pending(request, self.kind, by=_requester(request))
            _save(request, self.statuses.cancelled, [])
        elif before == self.statuses.running and self.cancel_while_running:
            run = self.forward_run(request)
            if run is not None:
                engine.cancel(run)  # run_finished moves the request (at once when no worker holds the run)
            request.refresh_from_db()
        else:
            raise ValidationError(self.cannot_cancel(request))
        self._record(request, self.verbs.cancelled, actor=actor, before=before)
        return request

    def retry(self, *, actor: User, pk: Any) -> R:
        """Resume the failed run (forward or undo) at its failed step. In a transaction."""
        request = self.locked_for(actor, pk)
        run = latest_run(request, self.kind)
        if _status(request) != self.statuses.failed:
            raise ValidationError(f"Only a failed {self.noun} can be retried.")
        if run is None or run.status != RunStatus.FAILED:
            raise ValidationError("There is no failed run to retry.")
        self.check_retry(request, run, actor=actor)
        engine.retry(run)
        status = self.statuses.running if run.direction == Direction.FORWARD else self.statuses.undoing
        self._move(request, status, self.verbs.retried, actor=actor, run=run.key)
        return request

    def undo(self, request: R, *, actor: User | None, **details: Any) -> R:
        """Undo what the request's run made (newest step first), or end at once when it began nothing.

        ``request`` is locked by the caller, who has checked that its status
        allows it. Audited as the kind's ``undo_started``.
        """
        run = self.forward_run(request)
        if run is None or not began(run):
            status = self.statuses.outcomes[(Direction.UNDO, RunStatus.SUCCEEDED)]
        else:
            engine.undo(run, user=actor)
            status = self.statuses.undoing
        self._move(request, status, self.verbs.undo_started, actor=actor, **details)
        return request

    # --- writing --------------------------------------------------------------------------------------------

    def _move(
        self,
        request: R,
        status: str,
        verb: str,
        *,
        actor: User | None,
        fields: Sequence[str] = (),
        after: Mapping[str, Any] | None = None,
        **details: Any,
    ) -> None:
        before = _status(request)
        _save(request, status, fields)
        self._record(request, verb, actor=actor, before=before, after=after, **details)

    def _record(
        self,
        request: R,
        verb: str,
        *,
        actor: User | None,
        before: str,
        after: Mapping[str, Any] | None = None,
        **details: Any,
    ) -> None:
        audit.record(
            verb,
            request,
            actor=actor,
            actor_label=None if actor is not None else "system",
            before={"status": before} if before != _status(request) else None,
            after={"status": _status(request), **(after or {})},
            **self.audit_context(request),
            **details,
        )


# --- the models' common fields, read and written -----------------------------------------------------------------


def _status(request: models.Model) -> str:
    status: str = request.status  # type: ignore[attr-defined]
    return status


def _status_words(request: models.Model) -> str:
    words: str = request.get_status_display()  # type: ignore[attr-defined]
    return words.lower()


def _requester(request: models.Model) -> User:
    requester: User = request.requested_by  # type: ignore[attr-defined]
    return requester


def _save(request: models.Model, status: str, fields: Sequence[str]) -> None:
    request.status = status  # type: ignore[attr-defined]
    request.save(update_fields=sorted({"status", "updated_at", *fields}))
