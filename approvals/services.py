"""Asking for approval and deciding, with separation of duties, audited and notified.

Rules every request follows, whatever its subject:

- the policy decides who may approve (``can(user, "approve", subject)``);
- nobody decides their own request;
- ``required_approvals`` different people must approve; one rejection ends it;
- a decided request stays decided (a double click or a late second approver
  gets a clear message, and nothing changes);
- every request, decision and withdrawal is an audit event in the same
  transaction; approvers are told when a request arrives, the requester when
  it is decided.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.utils import timezone

from access import policy
from access.audit import services as audit
from access.models import User
from access.selectors import who_can
from approvals.models import ApprovalDecision, ApprovalRequest, ApprovalStatus, Verdict
from approvals.signals import decided
from notifications.services import Message, notify

APPROVE = policy.APPROVE


def approvers_of(subject: models.Model, *, excluding: User | None = None) -> list[User]:
    """The active people the policy lets approve ``subject`` (minus ``excluding``)."""
    permission = policy.permission_for(subject, APPROVE)
    holders = who_can(subject)
    if not any(entry.permission == permission for entry in holders.permissions):
        return [user for user in holders.superusers if user != excluding]
    candidates = User.objects.filter(pk__in=holders.user_ids(permission), is_active=True).order_by("username")
    return [user for user in candidates if user != excluding and policy.can(user, APPROVE, subject)]


def request_approval(
    subject: models.Model,
    *,
    purpose: str,
    requested_by: User,
    summary: str,
    reasons: Sequence[str] = (),
    url: str = "",
    required_approvals: int = 1,
) -> ApprovalRequest:
    """Open a request (or return the one already waiting for this subject and purpose) and tell the approvers."""
    with transaction.atomic():
        subject_type = ContentType.objects.get_for_model(subject)
        request, created = ApprovalRequest.objects.get_or_create(
            subject_type=subject_type,
            subject_id=str(subject.pk),
            purpose=purpose,
            status=ApprovalStatus.PENDING,
            defaults={
                "summary": summary[:300],
                "reasons": list(reasons),
                "url": url,
                "requested_by": requested_by,
                "required_approvals": required_approvals,
            },
        )
        if not created:
            return request
        audit.record(
            audit.APPROVAL_REQUESTED,
            request,
            actor=requested_by,
            after={
                "purpose": purpose,
                "summary": request.summary,
                "reasons": request.reasons,
                "required_approvals": required_approvals,
            },
            subject=f"{subject._meta.label_lower}:{subject.pk}",
        )
        notify(
            approvers_of(subject, excluding=requested_by),
            Message(
                kind="approvals.requested",
                title=f"Approval needed: {request.summary}",
                body="\n".join([f"{requested_by.display_name} asks for it.", *request.reasons]),
                url=url,
                key=f"approval:{request.pk}:requested",
            ),
        )
    return request


def decide(request_id: int, *, approver: User, approve: bool, reason: str = "") -> ApprovalRequest:
    """Record ``approver``'s verdict; settle the request when it has enough approvals or any rejection.

    Raises :class:`ValidationError` (with a message for the page) when the
    request is no longer pending, the approver asked for it or already
    decided, or a rejection comes without a reason; Http404/PermissionDenied
    (through the policy) when the approver may not approve its subject.
    """
    reason = reason.strip()
    with transaction.atomic():
        request = ApprovalRequest.objects.select_for_update().get(pk=request_id)
        subject = request.subject
        policy.forget(approver)  # a grant revoked a moment ago counts
        policy.require(approver, policy.VIEW, subject)
        policy.require(approver, APPROVE, subject)
        if request.status != ApprovalStatus.PENDING:
            raise ValidationError(f"This request was already {request.get_status_display().lower()}.")
        if request.requested_by_id == approver.pk:
            raise ValidationError("You asked for this; someone else must decide it.")
        if request.decisions.filter(approver=approver).exists():
            raise ValidationError("You have already decided this request; it needs another approver.")
        if not approve and not reason:
            raise ValidationError({"reason": "Say why you reject it: the requester reads this."})
        ApprovalDecision.objects.create(
            request=request, approver=approver, verdict=Verdict.APPROVE if approve else Verdict.REJECT, reason=reason
        )
        approvals = request.decisions.filter(verdict=Verdict.APPROVE).count()
        before = {"status": request.status}
        if not approve:
            request.status = ApprovalStatus.REJECTED
        elif approvals >= request.required_approvals:
            request.status = ApprovalStatus.APPROVED
        if request.status != ApprovalStatus.PENDING:
            request.decided_at = timezone.now()
            request.save(update_fields=["status", "decided_at"])
        audit.record(
            audit.APPROVAL_GIVEN if approve else audit.APPROVAL_REJECTED,
            request,
            actor=approver,
            before=before,
            after={"status": request.status, "approvals": f"{approvals} of {request.required_approvals}"},
            reason=reason,
            subject=f"{request.subject_type.app_label}.{request.subject_type.model}:{request.subject_id}",
        )
        if request.status != ApprovalStatus.PENDING:
            approved = request.status == ApprovalStatus.APPROVED
            decided.send(sender=ApprovalRequest, request=request, approved=approved, by=approver)
            verdict = "approved" if request.status == ApprovalStatus.APPROVED else "rejected"
            notify(
                [request.requested_by],
                Message(
                    kind=f"approvals.{verdict}",
                    title=f"{request.summary}: {verdict}",
                    body=f"{approver.display_name}: {reason}"
                    if reason
                    else f"{verdict.capitalize()} by {approver.display_name}.",
                    url=request.url,
                    key=f"approval:{request.pk}:{verdict}",
                ),
            )
    return request


def withdraw_pending(subject: models.Model, purpose: str, *, by: User) -> None:
    """Withdraw the pending approval request about ``subject`` for ``purpose``, if there is one."""
    pending = ApprovalRequest.objects.filter(
        subject_type=ContentType.objects.get_for_model(subject),
        subject_id=str(subject.pk),
        purpose=purpose,
        status=ApprovalStatus.PENDING,
    ).first()
    if pending is not None:
        withdraw(pending.pk, by=by)


def withdraw(request_id: int, *, by: User) -> ApprovalRequest:
    """The requester takes a pending request back; a decided one is left as it is."""
    with transaction.atomic():
        request = ApprovalRequest.objects.select_for_update().get(pk=request_id)
        if request.requested_by_id != by.pk:
            policy.require(by, APPROVE, request.subject)
        if request.status != ApprovalStatus.PENDING:
            return request
        request.status = ApprovalStatus.WITHDRAWN
        request.decided_at = timezone.now()
        request.save(update_fields=["status", "decided_at"])
        audit.record(
            audit.APPROVAL_WITHDRAWN, request, actor=by, before={"status": "pending"}, after={"status": "withdrawn"}
        )
    return request
