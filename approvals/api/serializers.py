"""What the API says of an approval request and its decisions, and what a decision takes."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from approvals.models import ApprovalDecision, ApprovalRequest


class DecisionSerializer(serializers.ModelSerializer[ApprovalDecision]):
    approver = serializers.CharField(source="approver.username", read_only=True)

    class Meta:
        model = ApprovalDecision
        fields = ["approver", "verdict", "reason", "decided_at"]
        read_only_fields = fields


class ApprovalSerializer(serializers.ModelSerializer[ApprovalRequest]):
    requested_by = serializers.CharField(source="requested_by.username", read_only=True)
    subject = serializers.SerializerMethodField()
    approvals = serializers.IntegerField(read_only=True)
    decisions = DecisionSerializer(many=True, read_only=True)
    can_decide = serializers.SerializerMethodField()
    can_withdraw = serializers.SerializerMethodField()

    class Meta:
        model = ApprovalRequest
        fields = [
            "id",
            "purpose",
            "summary",
            "reasons",
            "url",
            "subject",
            "status",
            "required_approvals",
            "approvals",
            "requested_by",
            "created_at",
            "decided_at",
            "decisions",
            "can_decide",
            "can_withdraw",
        ]
        read_only_fields = fields

    def get_subject(self, request: ApprovalRequest) -> dict[str, Any]:
        """The kind (``app.model``) and id of what the request is about."""
        return {"type": f"{request.subject_type.app_label}.{request.subject_type.model}", "id": request.subject_id}

    def get_can_decide(self, request: ApprovalRequest) -> bool:
        """Whether the caller may record a verdict on it now."""
        from approvals.selectors import can_decide

        return can_decide(self.context["request"].user, request)

    def get_can_withdraw(self, request: ApprovalRequest) -> bool:
        """Whether the caller asked for it and it still waits."""
        return request.status == "pending" and request.requested_by_id == self.context["request"].user.pk


class DecideSerializer(serializers.Serializer[Any]):
    verdict = serializers.ChoiceField(choices=[("approve", "Approve"), ("reject", "Reject")])
    reason = serializers.CharField(required=False, allow_blank=True, max_length=2000, default="")
