"""The workflow engine: persisted, ordered, idempotent steps that a killed worker's successor resumes.

An app describes a long operation as a :class:`Workflow` subclass registered
under a ``kind``: ``plan(params)`` lists the steps, ``do_<action>(ctx)``
performs one (and returns a small JSON-able output later steps can read),
``undo_<action>(ctx)`` reverses one. The engine owns everything else:

- :func:`start` creates the run and all its steps in one transaction, keyed
  so that starting it twice (a double click, a retried API call) returns the
  first run, and enqueues it once the transaction commits;
- :func:`advance` (the Celery task ``workflows.advance``) takes a lease on the
  run, performs its steps in order and saves each one's state before and
  after, renewing the lease from a heartbeat thread while a step runs;
- a step that raises :class:`NotYet` waits and is looked at again later (a
  cluster still creating), and so does one whose resource is
  :class:`~providers.errors.Busy` with another operation; a retryable
  :class:`~providers.errors.ProviderError` is retried with jittered
  exponential backoff up to the definition's ``step_attempts``; anything
  else fails the step and the run, with a message fit for the page (an
  unexpected exception's details go to the log only);
- :func:`sweep` (beat, every 30 s) re-enqueues runs whose wait is over, whose
  worker died (lease expired) or whose message was lost. Delays of a minute
  or less are also enqueued with a countdown; longer ones are left to the
  sweeper, because a Redis ETA longer than the visibility timeout re-runs
  the task in a loop;
- :func:`cancel` stops a run between two steps, :func:`retry` resumes a
  failed one at its failed step, :func:`undo` starts a run that reverses
  what a finished run did, newest step first;
- when a run ends, :data:`workflows.signals.run_finished` is sent inside the
  ending transaction; the subject's app moves its subject on in a receiver
  (requests through :mod:`workflows.lifecycle`).

Steps must be idempotent (deterministic names, look before create): a worker
killed in the middle of one makes the next worker perform it again.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import random
import secrets
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, ClassVar, TypeVar

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import connection, models, transaction
from django.db.models import F, Q
from django.db.models.functions import Coalesce
from django.utils import timezone
from django_guid import get_guid, set_guid

from access.models import User
from providers.errors import Busy, ProviderError
from workflows.models import ACTIVE, Direction, Run, RunStatus, Step, StepStatus
from workflows.signals import run_finished

logger = logging.getLogger(__name__)

W = TypeVar("W", bound="type[Workflow]")
# Countdowns up to this go to the broker; longer waits are the sweeper's (Redis visibility timeout trap).
MAX_COUNTDOWN_SECONDS = 60
# How long a step waits before asking again about a resource busy with another operation.
BUSY_RETRY_SECONDS = 30.0


@dataclass(frozen=True)
class PlannedStep:
    """A step as a definition plans it: a unique ``name`` shown to people, the ``action`` and its ``params``."""

    name: str
    action: str
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class StepContext:
    """What a step's handler gets: the run's and the step's parameters, and the outputs of the steps before it.

    In an undo run, ``outputs`` are those of the run being undone, so
    ``undo_<action>`` can find what ``do_<action>`` made.
    """

    run_id: int
    run_key: str
    run_params: Mapping[str, Any]
    subject_type_id: int | None
    subject_id: str
    name: str
    action: str
    params: Mapping[str, Any]
    attempt: int
    outputs: Mapping[str, Mapping[str, Any]]

    @property
    def idempotency_token(self) -> str:
        """A token for cloud APIs that take one (EC2 ``ClientToken``): the same for every try of this step."""
        return hashlib.sha256(f"{self.run_key}\x00{self.name}".encode()).hexdigest()[:32]


class NotYet(Exception):
    """Raised by a step that must wait (a cluster still creating, a deletion still in progress).

    The step is looked at again after ``retry_after`` seconds, until
    ``give_up_after`` (default: the definition's ``max_wait``) has passed
    since it first waited; ``note`` is shown on the page meanwhile.
    """

    def __init__(self, note: str, *, retry_after: float = 10.0, give_up_after: timedelta | None = None) -> None:
        super().__init__(note)
        self.note = note
        self.retry_after = retry_after
        self.give_up_after = give_up_after


class StepFailed(Exception):
    """Raised by a step whose failure a person must resolve; the message is shown as it is."""


class Workflow:
    """A kind of long operation. Subclass, set ``kind``, implement ``plan`` and ``do_<action>`` methods."""

    kind: ClassVar[str] = ""
    #: Tries of one step (retryable errors and workers lost while running it) before it fails.
    step_attempts: ClassVar[int] = 5
    #: How long a step may keep answering :class:`NotYet`.
    max_wait: ClassVar[timedelta] = timedelta(hours=2)
    backoff_base_seconds: ClassVar[float] = 5.0
    backoff_cap_seconds: ClassVar[float] = 300.0

    def plan(self, params: Mapping[str, Any]) -> Sequence[PlannedStep]:
        """The steps of a run with these parameters, in order."""
        raise NotImplementedError

    def perform(self, ctx: StepContext) -> Mapping[str, Any] | None:
        """Do one step (``do_<action>``); return what later steps or the undo need to know."""
        handler: Callable[[StepContext], Mapping[str, Any] | None] | None = getattr(self, f"do_{ctx.action}", None)
        if handler is None:
            raise StepFailed(f"{self.kind} has no action {ctx.action!r}")
        return handler(ctx)

    def reverse(self, ctx: StepContext) -> None:
        """Undo one step (``undo_<action>``); an action without one has nothing to undo."""
        handler: Callable[[StepContext], None] | None = getattr(self, f"undo_{ctx.action}", None)
        if handler is not None:
            handler(ctx)


_REGISTRY: dict[str, Workflow] = {}


def register(cls: W) -> W:
    """Class decorator: make a :class:`Workflow` available under its ``kind``."""
    if not cls.kind:
        raise ValueError(f"{cls.__name__} has no kind")
    existing = _REGISTRY.get(cls.kind)
    if existing is not None and type(existing).__qualname__ != cls.__qualname__:
        raise ValueError(f"two workflows are registered as {cls.kind!r}")
    _REGISTRY[cls.kind] = cls()
    return cls


def definition(kind: str) -> Workflow:
    """The registered workflow of ``kind``."""
    try:
        return _REGISTRY[kind]
    except KeyError:
        raise LookupError(f"no workflow is registered as {kind!r}") from None


# ---------------------------------------------------------------- starting, cancelling, retrying


def _json(value: Any, what: str) -> Any:
    try:
        return json.loads(json.dumps(value))
    except (TypeError, ValueError) as error:
        raise TypeError(f"{what} must be JSON: {error}") from error


def start(
    kind: str,
    *,
    key: str,
    subject: models.Model | None = None,
    params: Mapping[str, Any] | None = None,
    user: User | None = None,
) -> Run:
    """Create the run with its planned steps and enqueue it after commit; the run of ``key`` if it exists.

    ``params`` are stored in the database and shown to operators: names and
    ids only, never a secret.
    """
    workflow = definition(kind)
    plain = _json(dict(params or {}), "workflow params")
    planned = list(workflow.plan(plain))
    if len({step.name for step in planned}) != len(planned):
        raise ValueError(f"{kind} planned two steps with the same name")
    with transaction.atomic():
        run, created = Run.objects.get_or_create(
            key=key,
            defaults={
                "kind": kind,
                "params": plain,
                "subject_type": ContentType.objects.get_for_model(subject) if subject is not None else None,
                "subject_id": str(subject.pk) if subject is not None else "",
                "created_by": user,
                "request_id": get_guid() or "",
            },
        )
        if created:
            Step.objects.bulk_create(
                Step(
                    run=run,
                    position=position,
                    name=step.name,
                    action=step.action,
                    params=_json(dict(step.params), f"params of step {step.name}"),
                )
                for position, step in enumerate(planned, start=1)
            )
            _enqueue_on_commit(run.pk)
    return run


def undo(run: Run, *, user: User | None = None) -> Run:
    """Start the run that reverses ``run``: every step it ever began, newest first. Once per run.

    A step that failed half-way is undone too, so undo handlers must accept
    that what they remove may not exist.
    """
    with transaction.atomic():
        run = Run.objects.select_for_update().get(pk=run.pk)  # its state now, not when the caller read it
        if run.status in ACTIVE:
            raise ValueError("a run that is still going cannot be undone; cancel it first")
        if run.direction == Direction.UNDO:
            raise ValueError("an undo run cannot itself be undone")
        begun = [step for step in run.steps.order_by("-position") if step.started_at is not None]
        undo_run, created = Run.objects.get_or_create(
            key=f"{run.key}:undo",
            defaults={
                "kind": run.kind,
                "direction": Direction.UNDO,
                "parent": run,
                "params": run.params,
                "subject_type_id": run.subject_type_id,
                "subject_id": run.subject_id,
                "created_by": user,
                "request_id": get_guid() or "",
            },
        )
        if created:
            Step.objects.bulk_create(
                Step(run=undo_run, position=position, name=step.name, action=step.action, params=step.params)
                for position, step in enumerate(begun, start=1)
            )
            _enqueue_on_commit(undo_run.pk)
    return undo_run


def cancel(run: Run) -> Run:
    """Stop the run before its next step; at once when no worker holds it. A finished run is left as it is."""
    with transaction.atomic():
        locked = Run.objects.select_for_update().get(pk=run.pk)
        if locked.status not in ACTIVE:
            return locked
        now = timezone.now()
        locked.cancel_requested_at = locked.cancel_requested_at or now
        locked.save(update_fields=["cancel_requested_at"])
        if locked.lease_expires_at is None or locked.lease_expires_at < now:
            _finish(locked, RunStatus.CANCELLED)
    return Run.objects.get(pk=run.pk)


def retry(run: Run) -> Run:
    """Resume a failed run at the step that failed (its tries start again); any other run is left as it is."""
    with transaction.atomic():
        locked = Run.objects.select_for_update().get(pk=run.pk)
        if locked.status != RunStatus.FAILED:
            return locked
        locked.steps.filter(status=StepStatus.FAILED).update(
            status=StepStatus.PENDING, attempts=0, error="", error_code="", note="", wait_until=None, finished_at=None
        )
        locked.status = RunStatus.PENDING
        locked.error = ""
        locked.finished_at = None
        locked.save(update_fields=["status", "error", "finished_at"])
        _enqueue_on_commit(locked.pk)
    return locked


# ---------------------------------------------------------------- scheduling


def _enqueue(run_id: int, countdown: float | None = None) -> None:
    from workflows.tasks import advance_run

    Run.objects.filter(pk=run_id).update(enqueued_at=timezone.now())
    if countdown is None:
        advance_run.apply_async(args=(run_id,))
    else:
        advance_run.apply_async(args=(run_id,), countdown=countdown)


def _enqueue_on_commit(run_id: int) -> None:
    transaction.on_commit(lambda: _enqueue(run_id))


def lease_duration() -> timedelta:
    """How long a worker owns a run without renewing its lease (``PORTAL_WORKFLOW_LEASE_SECONDS``)."""
    return timedelta(seconds=settings.WORKFLOW_LEASE_SECONDS)


def sweep() -> int:
    """Enqueue every active run no worker holds whose wait is over and that was not enqueued lately."""
    now = timezone.now()
    due = (
        Run.objects.filter(status__in=ACTIVE)
        .filter(Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lt=now))
        .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now) | Q(cancel_requested_at__isnull=False))
        .filter(
            Q(status=RunStatus.RUNNING)  # running, yet nobody holds it: its worker died
            | Q(enqueued_at__isnull=True)
            | Q(enqueued_at__lt=now - lease_duration())  # queued a lease ago and never picked up: lost
            | Q(next_attempt_at__isnull=False, enqueued_at__lt=F("next_attempt_at"))  # a wait left to the sweeper
            | Q(cancel_requested_at__isnull=False, enqueued_at__lt=F("cancel_requested_at"))  # to be stopped
        )
        .values_list("pk", flat=True)
    )
    run_ids = list(due[:500])
    for run_id in run_ids:
        _enqueue(run_id)
    return len(run_ids)


# ---------------------------------------------------------------- advancing


def _claim(run_id: int, token: str) -> bool:
    now = timezone.now()
    claimed = (
        Run.objects.filter(pk=run_id, status__in=ACTIVE)
        .filter(Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lt=now))
        .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now) | Q(cancel_requested_at__isnull=False))
        .update(
            lease_token=token,
            lease_expires_at=now + lease_duration(),
            status=RunStatus.RUNNING,
            started_at=Coalesce(F("started_at"), now),
            next_attempt_at=None,
            leases=F("leases") + 1,
        )
    )
    return bool(claimed)


def _renew(run_id: int, token: str) -> bool:
    return bool(
        Run.objects.filter(pk=run_id, lease_token=token).update(lease_expires_at=timezone.now() + lease_duration())
    )


def _release(run_id: int, token: str) -> None:
    Run.objects.filter(pk=run_id, lease_token=token).update(lease_token="", lease_expires_at=None)


@contextlib.contextmanager
def _heartbeat(run_id: int, token: str) -> Iterator[None]:
    """Renew the lease every third of its length while a step runs, from a thread with its own connection."""
    stop = threading.Event()
    interval = max(lease_duration().total_seconds() / 3, 0.2)

    def beat() -> None:
        try:
            while not stop.wait(interval):
                _renew(run_id, token)
        finally:
            connection.close()

    thread = threading.Thread(target=beat, name=f"workflow-lease-{run_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def advance(run_id: int) -> None:
    """Take the run's lease and perform its steps until it finishes, waits, fails or is cancelled."""
    token = secrets.token_hex(16)
    if not _claim(run_id, token):
        return  # another worker holds it, it is waiting, or it is over
    run = Run.objects.get(pk=run_id)
    previous_guid = get_guid()
    set_guid(run.request_id or previous_guid or token)
    try:
        workflow = definition(run.kind)
        while _renew(run_id, token):
            run.refresh_from_db()
            if run.cancel_requested_at is not None:
                _end(run, RunStatus.CANCELLED)
                return
            step = run.steps.exclude(status=StepStatus.SUCCEEDED).order_by("position").first()
            if step is None:
                _end(run, RunStatus.SUCCEEDED)
                return
            if step.status in (StepStatus.FAILED, StepStatus.CANCELLED):
                _end(run, RunStatus.FAILED, f"{step.name}: {step.error or 'did not finish'}")
                return
            if not _perform(run, workflow, step, token):
                return
    finally:
        _release(run_id, token)
        if previous_guid:
            set_guid(previous_guid)


def _context(run: Run, step: Step) -> StepContext:
    source = run.parent if run.direction == Direction.UNDO and run.parent is not None else run
    outputs = dict(source.steps.filter(status=StepStatus.SUCCEEDED).values_list("name", "output"))
    return StepContext(
        run_id=run.pk,
        run_key=run.key,
        run_params=run.params,
        subject_type_id=run.subject_type_id,
        subject_id=run.subject_id,
        name=step.name,
        action=step.action,
        params=step.params,
        attempt=step.attempts,
        outputs=outputs,
    )


def _perform(run: Run, workflow: Workflow, step: Step, token: str) -> bool:
    """Perform one step and save how it went; whether the run goes on to the next step now."""
    now = timezone.now()
    if step.status == StepStatus.RUNNING and step.attempts >= workflow.step_attempts:
        message = f"the worker running this step stopped {step.attempts} times; giving up"
        _fail(run, step, "WorkerLost", message)
        return False
    step.status = StepStatus.RUNNING
    step.attempts += 1
    step.started_at = step.started_at or now
    step.save(update_fields=["status", "attempts", "started_at"])
    try:
        with _heartbeat(run.pk, token):
            if run.direction == Direction.UNDO:
                workflow.reverse(_context(run, step))
                output: Mapping[str, Any] | None = {}
            else:
                output = workflow.perform(_context(run, step))
        plain_output = _json(dict(output or {}), f"the output of step {step.name}")
    except (NotYet, Busy) as waiting:
        # A resource busy with another operation is waited for like one still being created.
        wait = waiting if isinstance(waiting, NotYet) else _busy_wait(waiting)
        step.attempts -= 1  # waiting is not trying
        deadline = step.wait_until or now + (wait.give_up_after or workflow.max_wait)
        if now >= deadline:
            _fail(run, step, "TimedOut", f"gave up waiting: {wait.note}")
            return False
        step.wait_until = deadline
        _wait(run, step, wait.note, wait.retry_after)
        return False
    except ProviderError as error:
        if error.retryable and step.attempts < workflow.step_attempts:
            delay = error.retry_after or _backoff(workflow, step.attempts)
            note = f"{type(error).__name__}: {error.message} (try {step.attempts} of {workflow.step_attempts})"
            _wait(run, step, note, delay)
            return False
        _fail(run, step, type(error).__name__, error.message)
        return False
    except StepFailed as error:
        _fail(run, step, "StepFailed", str(error))
        return False
    except Exception:
        logger.exception("workflow %s step %s failed unexpectedly", run.key, step.name)
        message = f"unexpected error; the worker log has the details (request id {run.request_id or '-'})"
        _fail(run, step, "InternalError", message)
        return False
    step.status = StepStatus.SUCCEEDED
    step.output = plain_output
    step.finished_at = timezone.now()
    step.note = step.error = step.error_code = ""
    step.save(update_fields=["status", "output", "finished_at", "note", "error", "error_code"])
    return True


def _busy_wait(error: ProviderError) -> NotYet:
    """The wait for a resource busy with another operation: as long as the cloud asked, else half a minute."""
    return NotYet(f"{type(error).__name__}: {error.message}", retry_after=error.retry_after or BUSY_RETRY_SECONDS)


def _backoff(workflow: Workflow, attempt: int) -> float:
    """Full jitter: a random wait up to ``base * 2**(attempt-1)``, capped."""
    ceiling = min(workflow.backoff_cap_seconds, workflow.backoff_base_seconds * 2 ** max(attempt - 1, 0))
    return random.uniform(ceiling / 2, ceiling)  # noqa: S311 (jitter, not a secret)


def _wait(run: Run, step: Step, note: str, delay: float) -> None:
    at: datetime = timezone.now() + timedelta(seconds=delay)
    with transaction.atomic():
        step.status = StepStatus.WAITING
        step.note = note[:500]
        step.save(update_fields=["status", "note", "attempts", "wait_until"])
        Run.objects.filter(pk=run.pk).update(status=RunStatus.WAITING, next_attempt_at=at)
    if delay <= MAX_COUNTDOWN_SECONDS:
        transaction.on_commit(lambda: _enqueue(run.pk, countdown=delay))


def _fail(run: Run, step: Step, code: str, message: str) -> None:
    with transaction.atomic():
        step.status = StepStatus.FAILED
        step.error_code = code
        step.error = message
        step.note = ""
        step.finished_at = timezone.now()
        step.save(update_fields=["status", "error_code", "error", "note", "finished_at", "attempts", "wait_until"])
        _end(run, RunStatus.FAILED, f"{step.name}: {message}")


def _end(run: Run, status: str, error: str = "") -> None:
    with transaction.atomic():
        locked = Run.objects.select_for_update().get(pk=run.pk)
        _finish(locked, status, error)


def _finish(run: Run, status: str, error: str = "") -> None:
    """End a locked run: remaining steps are cancelled when it is cancelled; ``run_finished`` tells its app."""
    now = timezone.now()
    if status == RunStatus.CANCELLED:
        run.steps.exclude(status__in=[StepStatus.SUCCEEDED, StepStatus.FAILED]).update(
            status=StepStatus.CANCELLED, finished_at=now, note=""
        )
    run.status = status
    run.error = error
    run.finished_at = now
    run.next_attempt_at = None
    run.save(update_fields=["status", "error", "finished_at", "next_attempt_at"])
    try:
        with transaction.atomic():
            run_finished.send(sender=Run, run=run)
    except Exception:
        # The run did end; a subject left behind is a bug to fix, not a reason to run the steps again.
        logger.exception("workflow %s: a receiver of run_finished failed", run.key)
        run.error = (run.error + " " if run.error else "") + "(the page may not show the outcome yet)"
        run.save(update_fields=["error"])
