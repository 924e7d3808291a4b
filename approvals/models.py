"""Requests that need someone else's approval, and the decisions on them.

One mechanism for every app: an environment that policy holds (production,
over budget), a new cloud region (two different platform admins), a
production rollback. The request points at its subject; whoever the policy
lets ``approve`` that subject may decide, except the person who asked.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.db.models import Q

if TYPE_CHECKING:
    from access.models import User


class ApprovalStatus(models.TextChoices):
    PENDING = "pending", "Waiting for approval"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"
    WITHDRAWN = "withdrawn", "Withdrawn"


class ApprovalRequest(models.Model):
    """Someone asks for ``purpose`` on a subject; ``required_approvals`` different people must approve."""

    subject_type = models.ForeignKey(ContentType, on_delete=models.PROTECT)
    subject_id = models.CharField(max_length=64)
    subject = GenericForeignKey("subject_type", "subject_id")
    purpose = models.CharField(max_length=100, help_text="What is approved, e.g. environments.provision.")
    summary = models.CharField(max_length=300)
    reasons = models.JSONField(default=list, blank=True, help_text="Why the policy asks for approval.")
    url = models.CharField(max_length=500, blank=True, help_text="The subject's page.")
    requested_by = models.ForeignKey("access.User", on_delete=models.PROTECT, related_name="approval_requests")
    required_approvals = models.PositiveSmallIntegerField(default=1)
    status = models.CharField(max_length=12, choices=ApprovalStatus.choices, default=ApprovalStatus.PENDING)
    created_at = models.DateTimeField(auto_now_add=True)
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["subject_type", "subject_id", "purpose"],
                condition=Q(status="pending"),
                name="one_pending_approval_per_subject_and_purpose",
            ),
            models.CheckConstraint(
                condition=Q(required_approvals__gte=1, required_approvals__lte=3), name="approvals_needed_1_to_3"
            ),
        ]
        indexes = [models.Index(fields=["subject_type", "subject_id"], name="approval_subject")]

    def __str__(self) -> str:
        return f"{self.summary} ({self.get_status_display()})"

    @property
    def approvals(self) -> int:
        """How many approvals it has (uses prefetched decisions when there are)."""
        return sum(1 for decision in self.decisions.all() if decision.verdict == Verdict.APPROVE)

    def decided_by(self) -> User | None:
        """Whose verdict came last, the one that settled it (None before any)."""
        last = self.decisions.select_related("approver").order_by("-pk").first()
        return last.approver if last is not None else None


class Verdict(models.TextChoices):
    APPROVE = "approve", "Approved"
    REJECT = "reject", "Rejected"


class ApprovalDecision(models.Model):
    """One person's verdict on a request, with their reason."""

    request = models.ForeignKey(ApprovalRequest, on_delete=models.CASCADE, related_name="decisions")
    approver = models.ForeignKey("access.User", on_delete=models.PROTECT, related_name="approval_decisions")
    verdict = models.CharField(max_length=8, choices=Verdict.choices)
    reason = models.TextField(blank=True)
    decided_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["decided_at", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["request", "approver"], name="one_decision_per_approver"),
        ]

    def __str__(self) -> str:
        return f"{self.approver} {self.get_verdict_display().lower()} {self.request}"
