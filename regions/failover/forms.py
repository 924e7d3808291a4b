"""The failover request form: only the reason; what is promoted follows from the region (regions.failover)."""

from __future__ import annotations

from django import forms

from portal.bounds import TEXT_MAX


class FailoverRequestForm(forms.Form):
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        max_length=TEXT_MAX,
        help_text="What is wrong with the region; the two approvers read it.",
    )
