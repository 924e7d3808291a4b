"""A workflow run and its ordered steps: the persisted state of every long operation.

A run is created with all its steps planned; a worker advances it one step
at a time, saving each step's state before and after the work, so a killed
worker's run resumes at the step it was on. Who may see or act on a run is
decided by its subject (an environment, a region request…), whose app shows
it; the runs themselves have no pages of their own (to the policy they are
admin objects).
"""

from __future__ import annotations

from datetime import timedelta

from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.db.models import Q


class RunStatus(models.TextChoices):
    PENDING = "pending", "Queued"
    RUNNING = "running", "Running"
    WAITING = "waiting", "Waiting"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


ACTIVE = (RunStatus.PENDING, RunStatus.RUNNING, RunStatus.WAITING)
FINISHED = (RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED)


class StepStatus(models.TextChoices):
    PENDING = "pending", "To do"
    RUNNING = "running", "Running"
    WAITING = "waiting", "Waiting"
    SUCCEEDED = "succeeded", "Done"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


class Direction(models.TextChoices):
    FORWARD = "forward", "Forward"
    UNDO = "undo", "Undo"


class Run(models.Model):
    """One execution of a workflow definition (``kind``) for one subject."""

    kind = models.CharField(max_length=100)
    direction = models.CharField(max_length=8, choices=Direction.choices, default=Direction.FORWARD)
    key = models.CharField(
        max_length=200, unique=True, help_text="Starting a run with a key already used returns that run."
    )
    subject_type = models.ForeignKey(ContentType, on_delete=models.PROTECT, null=True, blank=True)
    subject_id = models.CharField(max_length=64, blank=True)
    subject = GenericForeignKey("subject_type", "subject_id")
    parent = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="undo_runs", help_text="The run undone."
    )
    params = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=12, choices=RunStatus.choices, default=RunStatus.PENDING)
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(
        "access.User", on_delete=models.SET_NULL, null=True, blank=True, related_name="workflow_runs"
    )
    request_id = models.CharField(max_length=128, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Scheduling and leases: a worker owns a run while its lease lasts; the sweeper re-enqueues the rest.
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    enqueued_at = models.DateTimeField(null=True, blank=True)
    lease_token = models.CharField(max_length=32, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    leases = models.PositiveIntegerField(default=0, help_text="How many times a worker picked the run up.")
    cancel_requested_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [
            models.Index(fields=["subject_type", "subject_id"], name="workflow_run_subject"),
            models.Index(
                fields=["status", "next_attempt_at"], name="workflow_run_active", condition=Q(status__in=ACTIVE)
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.key} ({self.status})"

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE

    @property
    def duration(self) -> timedelta | None:
        """How long the run took; ``None`` until it has finished."""
        if self.started_at is None or self.finished_at is None:
            return None
        return self.finished_at - self.started_at


class Step(models.Model):
    """One planned step of a run: what to do (``action`` with ``params``) and how it went."""

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="steps")
    position = models.PositiveIntegerField()
    name = models.CharField(max_length=200)
    action = models.CharField(max_length=100)
    params = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=12, choices=StepStatus.choices, default=StepStatus.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    output = models.JSONField(default=dict, blank=True)
    note = models.CharField(max_length=500, blank=True, help_text="What the step is waiting for.")
    error = models.TextField(blank=True)
    error_code = models.CharField(max_length=64, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    wait_until = models.DateTimeField(null=True, blank=True, help_text="When a waiting step gives up.")

    class Meta:
        ordering = ["run", "position"]
        constraints = [
            models.UniqueConstraint(fields=["run", "position"], name="unique_workflow_step_position"),
            models.UniqueConstraint(fields=["run", "name"], name="unique_workflow_step_name"),
        ]

    def __str__(self) -> str:
        return f"{self.position}. {self.name} ({self.status})"

    @property
    def duration(self) -> timedelta | None:
        """How long the step took (so far, for a running one: ``None``)."""
        if self.started_at is None or self.finished_at is None:
            return None
        return self.finished_at - self.started_at
