from __future__ import annotations

from django import forms


class DecisionForm(forms.Form):
    """Approve or reject, with a reason (required to reject)."""

    verdict = forms.ChoiceField(choices=[("approve", "Approve"), ("reject", "Reject")])
    reason = forms.CharField(
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2, "class": "form-control"}),
        help_text="Required to reject; the requester reads it.",
    )
