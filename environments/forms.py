"""Forms of the template, team-limits and environment pages. They validate (with the model's rules); services write."""

from __future__ import annotations

from typing import Any

from django import forms
from django.db.models import QuerySet

from access.models import Team
from environments.choices import LIFETIME_TOO_LONG, MAX_LIFETIME_HOURS, NamespaceGroup, Size
from environments.models import DNS_LABEL, EnvironmentTemplate, TeamLimits
from regions.choices import Provider, RegionStatus, ResidencyZone
from regions.models import Cluster, Region


class LinesField(forms.CharField):
    """A list of strings, one per line (blank lines ignored): CIDR blocks, namespace names."""

    widget = forms.Textarea(attrs={"rows": 3})

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("required", False)
        super().__init__(**kwargs)

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, list | tuple):
            return "\n".join(str(item) for item in value)
        return value

    def to_python(self, value: Any) -> list[str]:  # type: ignore[override]
        text = super().to_python(value) or ""
        return [line.strip() for line in str(text).splitlines() if line.strip()]


def _checkboxes(
    choices: Any, *, required: bool = True, label: str | None = None, help_text: str = ""
) -> forms.MultipleChoiceField:
    return forms.MultipleChoiceField(
        choices=choices, widget=forms.CheckboxSelectMultiple, required=required, label=label, help_text=help_text
    )


# The form's fields, in the sections the page shows them in.
TEMPLATE_SECTIONS: list[tuple[str, list[str]]] = [
    ("Template", ["name", "slug", "description", "tier", "active"]),
    ("Namespaces", ["namespaces"]),
    (
        "Resource quota (per namespace)",
        [
            "quota_requests_cpu",
            "quota_limits_cpu",
            "quota_requests_memory",
            "quota_limits_memory",
            "quota_pods",
            "quota_gpus",
            "quota_storage",
        ],
    ),
    (
        "Limit range (per container)",
        [
            "limit_default_request_cpu",
            "limit_default_cpu",
            "limit_max_cpu",
            "limit_default_request_memory",
            "limit_default_memory",
            "limit_max_memory",
        ],
    ),
    ("Network policy", ["network_default_deny", "network_allowed_namespaces"]),
    (
        "Ingress",
        [
            "ingress_host_pattern",
            "ingress_tls",
            "ingress_rate_limit_rps",
            "ingress_allow_cidrs",
            "ingress_deny_cidrs",
        ],
    ),
    ("Managed add-ons", ["postgresql_size", "redis_size", "bucket_size_gb"]),
    ("Where it may run", ["allowed_providers", "allowed_zones", "allowed_regions"]),
    ("Lifetime and approval", ["default_ttl_hours", "max_ttl_hours", "approval"]),
    ("Sizes (multipliers of the quota)", ["size_small", "size_medium", "size_large"]),
]


class TemplateForm(forms.ModelForm[EnvironmentTemplate]):
    """Every setting of a template, in the sections the page shows."""

    # Not required on the form: the model says "Choose at least one …", once, instead of two messages.
    namespaces = _checkboxes(NamespaceGroup.choices, required=False, label="Namespaces")
    network_allowed_namespaces = LinesField(
        label="Namespaces allowed in", help_text="One namespace per line, e.g. monitoring."
    )
    ingress_allow_cidrs = LinesField(
        label="Allowed source ranges", help_text="One CIDR block per line; empty: everyone may connect."
    )
    ingress_deny_cidrs = LinesField(label="Denied source ranges", help_text="One CIDR block per line.")
    allowed_providers = _checkboxes(Provider.choices, required=False, label="Allowed providers")
    allowed_zones = _checkboxes(
        ResidencyZone.choices, required=False, label="Allowed residency zones", help_text="Empty: every zone."
    )
    allowed_regions = forms.ModelMultipleChoiceField(
        queryset=Region.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="Allowed regions",
        help_text="Empty: every region of the allowed providers and zones.",
    )

    SECTIONS = TEMPLATE_SECTIONS

    class Meta:
        model = EnvironmentTemplate
        fields = [name for _, names in TEMPLATE_SECTIONS for name in names]
        widgets = {"description": forms.Textarea(attrs={"rows": 2})}

    def __init__(self, *args: Any, regions: QuerySet[Region], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["allowed_regions"].queryset = regions  # type: ignore[attr-defined]
        for name in ("default_ttl_hours", "max_ttl_hours"):
            self.fields[name].help_text = "Empty for production: production environments never expire."

    def sections(self) -> list[tuple[str, list[forms.BoundField]]]:
        return [(title, [self[name] for name in names]) for title, names in self.SECTIONS]

    def _post_clean(self) -> None:
        super()._post_clean()  # type: ignore[misc]  # django-stubs does not declare ModelForm._post_clean
        regions = self.cleaned_data.get("allowed_regions")
        if regions and "allowed_providers" in self.cleaned_data:
            for problem in self.instance.region_errors(regions):
                self.add_error("allowed_regions", problem)

    def service_fields(self) -> dict[str, Any]:
        """The cleaned values as the services take them."""
        return {name: value for name, value in self.cleaned_data.items() if name in self.fields}


class TeamLimitsForm(forms.ModelForm[TeamLimits]):
    class Meta:
        model = TeamLimits
        fields = ["max_environments", "max_monthly_estimate", "currency"]
        help_texts = {
            "max_monthly_estimate": "Requests that would take the team's total above this are refused.",
        }


class EstimateRegionForm(forms.Form):
    region = forms.ModelChoiceField(queryset=Region.objects.none(), empty_label=None, label="Region")

    def __init__(self, *args: Any, regions: QuerySet[Region], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["region"].queryset = regions  # type: ignore[attr-defined]


def cluster_label(cluster: Cluster) -> str:
    """ "eu-west-1 (AWS, EU) · eks-eu-west-1"; a region that is not active says so ("…, EU, retired)")."""
    region = cluster.region
    status = "" if region.status == RegionStatus.ACTIVE else f", {region.get_status_display().lower()}"
    return f"{region.code} ({region.get_provider_display()}, {region.residency_zone}{status}) · {cluster.name}"


class EnvironmentRequestForm(forms.Form):
    """A request: the choices offered are what the user may see; the service decides the rest."""

    name = forms.CharField(
        max_length=40,
        help_text="Lower-case letters, digits and hyphens, e.g. checkout-preview. Unique in the team.",
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )
    team = forms.ModelChoiceField(queryset=Team.objects.none(), empty_label=None)
    template = forms.ModelChoiceField(queryset=EnvironmentTemplate.objects.none(), empty_label=None)
    cluster = forms.ModelChoiceField(queryset=Cluster.objects.none(), empty_label=None, label="Region and cluster")
    size = forms.ChoiceField(choices=Size.choices, initial=Size.SMALL)
    ttl_hours = forms.IntegerField(
        label="Lifetime (hours)",
        min_value=1,
        max_value=MAX_LIFETIME_HOURS,
        error_messages={"max_value": LIFETIME_TOO_LONG, "min_value": "A lifetime is at least one hour."},
        required=False,
        help_text="Empty: the template's default. Production environments never expire.",
    )

    def __init__(
        self,
        *args: Any,
        teams: QuerySet[Team],
        templates: QuerySet[EnvironmentTemplate],
        clusters: QuerySet[Cluster],
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        fields: Any = self.fields
        fields["team"].queryset = teams
        fields["template"].queryset = templates
        fields["cluster"].queryset = clusters
        fields["cluster"].label_from_instance = cluster_label

    def clean_name(self) -> str:
        name: str = self.cleaned_data["name"].strip().lower()
        if not DNS_LABEL.match(name):
            raise forms.ValidationError(
                "Use lower-case letters, digits and hyphens, starting and ending with a letter or digit."
            )
        return name


class ExtendForm(forms.Form):
    hours = forms.IntegerField(
        min_value=1,
        max_value=MAX_LIFETIME_HOURS,
        error_messages={"max_value": LIFETIME_TOO_LONG, "min_value": "Extend by one hour at least."},
        initial=24,
        label="Extend by (hours)",
    )
