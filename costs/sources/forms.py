"""Forms of the cost sources pages: the models' rules validate them; the services write."""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.template.defaultfilters import filesizeformat

from costs.choices import SourceKind
from costs.models import AttributionRule, CostSource


class SourceForm(forms.ModelForm[CostSource]):
    class Meta:
        model = CostSource
        fields = ["name", "kind", "account", "cluster", "bucket", "prefix", "enabled"]


class RuleForm(forms.ModelForm[AttributionRule]):
    class Meta:
        model = AttributionRule
        fields = ["kind", "key", "value", "priority", "team", "environment", "service"]


def check_upload_size(size: int) -> None:
    """Refuse a file larger than ``PORTAL_COSTS_UPLOAD_MAX_BYTES`` as sent (the decompressed size is checked
    while it is read, against ``PORTAL_COSTS_UPLOAD_MAX_DECOMPRESSED_BYTES``)."""
    limit = settings.COSTS_UPLOAD_MAX_BYTES
    if size > limit:
        raise forms.ValidationError(
            f"The file is {filesizeformat(size)}; files up to {filesizeformat(limit)} are accepted."
        )


class UploadForm(forms.Form):
    """A FOCUS file (CSV, .csv.gz or Parquet) into an upload source: an existing one, or a new one by name."""

    source = forms.ModelChoiceField(
        queryset=CostSource.objects.filter(kind=SourceKind.UPLOAD),
        required=False,
        empty_label="(a new upload source)",
        help_text="Its periods that the file holds are replaced; its other periods stay.",
    )
    new_source = forms.SlugField(
        max_length=63, required=False, label="New source name", help_text="For a new upload source, e.g. gcp-billing."
    )
    file = forms.FileField(
        label="FOCUS file",
        help_text="FOCUS 1.0 to 1.2 columns; CSV (.csv or .csv.gz, UTF-8, date/times in UTC as "
        "2026-11-01T00:00:00Z) or Parquet (.parquet).",
    )
    replace_bills = forms.BooleanField(
        required=False,
        label="Replace the bill loaded by another source",
        help_text="Only when the upload is refused because another source holds the same bill (billing account "
        "and month): that source's rows of the bill are removed and this file's count instead. Recorded in the "
        "audit log.",
    )

    def clean_file(self) -> Any:
        upload = self.cleaned_data["file"]
        check_upload_size(upload.size)
        return upload

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if not data.get("source") and not data.get("new_source"):
            self.add_error("new_source", "Choose an upload source or name a new one.")
        elif data.get("source") and data.get("new_source"):
            self.add_error("new_source", "Choose an upload source or name a new one, not both.")
        elif (
            data.get("new_source")
            and CostSource.objects.filter(name=data["new_source"]).exclude(kind=SourceKind.UPLOAD).exists()
        ):
            self.add_error("new_source", "A source of another kind has this name.")
        return data


class ReattributeForm(forms.Form):
    since = forms.DateField(
        label="Periods from",
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        help_text="Stored line items from this month on are attributed again with today's rules.",
    )
