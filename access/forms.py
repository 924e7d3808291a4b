"""Forms of the access pages. They validate input; the services decide and write."""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.utils import timezone

from access import permissions
from access.models import AccessReviewItem, Membership, Role, SsoRule, Team, Tier, User
from portal.bounds import TEXT_MAX
from regions.choices import ResidencyZone
from regions.models import Region


def permission_choices() -> list[tuple[str, str]]:
    """Every permission a role may list, with the wildcards, in words."""
    choices = [("*", "* — everything, in every domain")]
    for domain in permissions.DOMAINS:
        choices.append((f"{domain}.*", f"{domain}.* — everything about {domain}"))
        choices.extend(
            (name, f"{name} — {description}")
            for name, description in permissions.PERMISSIONS.items()
            if name.startswith(f"{domain}.")
        )
    return choices


class DateTimeLocalInput(forms.DateTimeInput):
    input_type = "datetime-local"

    def __init__(self, attrs: dict[str, Any] | None = None) -> None:
        super().__init__(attrs, format="%Y-%m-%dT%H:%M")


class FutureDateTimeField(forms.DateTimeField):
    widget = DateTimeLocalInput

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S"], **kwargs)

    def validate(self, value: Any) -> None:
        super().validate(value)
        if value is not None and value <= timezone.now():
            raise ValidationError("Choose a time in the future.", code="past")


def residency_zone_field() -> forms.ChoiceField:
    return forms.ChoiceField(
        choices=[("", "No constraint"), *ResidencyZone.choices],
        required=False,
        label="Residency zone",
        help_text="Where the team's environments and data must stay (spec 10.3): a request in a region of another "
        "zone is refused. The portal does not move environments: a zone the team's live environments are not in "
        "is refused until they are torn down.",
    )


class TeamForm(forms.Form):
    slug = forms.SlugField(max_length=63, help_text="Short stable key, e.g. student-experience.")
    name = forms.CharField(max_length=200)
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False, max_length=TEXT_MAX)
    residency_zone = residency_zone_field()


class TeamEditForm(forms.Form):
    name = forms.CharField(max_length=200)
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False, max_length=TEXT_MAX)
    residency_zone = residency_zone_field()

    def __init__(self, *args: Any, may_set_residency_zone: bool, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not may_set_residency_zone:
            # Shown, so the lead sees the constraint, but not posted: a disabled field keeps its initial value.
            zone = self.fields["residency_zone"]
            zone.disabled = True
            zone.help_text = "Where the team's environments and data must stay; a platform admin sets it."


class PersonChoiceField(forms.ModelChoiceField):  # type: ignore[type-arg]
    """A person picked by name (with their username), not by username alone."""

    def label_from_instance(self, obj: Any) -> str:
        return str(obj.choice_label)


class PeopleChoiceField(forms.ModelMultipleChoiceField):  # type: ignore[type-arg]
    def label_from_instance(self, obj: Any) -> str:
        return str(obj.choice_label)


class MembershipForm(forms.Form):
    user = PersonChoiceField(queryset=User.objects.none(), label="Person")
    role = forms.ChoiceField(choices=Membership.Role.choices, label="Team role", initial=Membership.Role.MEMBER)

    def __init__(self, *args: Any, users: QuerySet[User], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["user"].queryset = users  # type: ignore[attr-defined]


class MembershipRoleForm(forms.Form):
    role = forms.ChoiceField(choices=Membership.Role.choices)


class RoleForm(forms.Form):
    slug = forms.SlugField(max_length=63, help_text="Short stable key, e.g. release-manager.")
    name = forms.CharField(max_length=100)
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False, max_length=TEXT_MAX)
    permissions = forms.MultipleChoiceField(
        choices=permission_choices,
        widget=forms.CheckboxSelectMultiple,
        error_messages={"invalid_choice": "Unknown permission: %(value)s. Choose from the list."},
    )


class RoleEditForm(RoleForm):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        del self.fields["slug"]


class GrantForm(forms.Form):
    grantee_user = PersonChoiceField(
        queryset=User.objects.none(), required=False, label="Person", empty_label="No one (a team instead)"
    )
    grantee_team = forms.ModelChoiceField(
        queryset=Team.objects.none(), required=False, label="or every member of team", empty_label="No team"
    )
    role = forms.ModelChoiceField(queryset=Role.objects.none(), empty_label="Choose a role")
    team = forms.ModelChoiceField(
        queryset=Team.objects.none(), required=False, label="Limit to team", empty_label="Every team"
    )
    region = forms.ModelChoiceField(
        queryset=Region.objects.none(), required=False, label="Limit to region", empty_label="Every region"
    )
    zone = forms.ChoiceField(
        choices=[("", "Any zone"), *ResidencyZone.choices], required=False, label="Limit to residency zone"
    )
    tiers = forms.MultipleChoiceField(
        choices=Tier.choices, required=False, widget=forms.CheckboxSelectMultiple, label="Limit to tiers"
    )
    expires_at = FutureDateTimeField(required=False, label="Expires", help_text="Leave empty for no expiry.")
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}),
        max_length=TEXT_MAX,
        help_text="Why this access is needed; kept as evidence.",
    )

    def __init__(
        self,
        *args: Any,
        users: QuerySet[User],
        teams: QuerySet[Team],
        roles: QuerySet[Role],
        regions: QuerySet[Region],
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.fields["grantee_user"].queryset = users  # type: ignore[attr-defined]
        self.fields["grantee_team"].queryset = teams  # type: ignore[attr-defined]
        self.fields["team"].queryset = teams  # type: ignore[attr-defined]
        self.fields["role"].queryset = roles  # type: ignore[attr-defined]
        self.fields["region"].queryset = regions  # type: ignore[attr-defined]

    def clean_reason(self) -> str:
        reason = str(self.cleaned_data["reason"]).strip()
        if not reason:
            raise ValidationError("Say why this access is needed; the reason is kept as evidence.")
        return reason

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if bool(cleaned.get("grantee_user")) == bool(cleaned.get("grantee_team")):
            raise ValidationError("Choose one person or one team to receive the grant.")
        return cleaned


class RevokeForm(forms.Form):
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}),
        max_length=TEXT_MAX,
        help_text="Why this access ends; kept as evidence.",
    )

    def clean_reason(self) -> str:
        reason = str(self.cleaned_data["reason"]).strip()
        if not reason:
            raise ValidationError("Say why this access is revoked.")
        return reason


class SsoRuleForm(forms.ModelForm[SsoRule]):
    class Meta:
        model = SsoRule
        fields = [
            "name",
            "provider",
            "claim",
            "value",
            "enabled",
            "team",
            "membership_role",
            "role",
            "scope_team",
            "scope_region",
            "scope_zone",
            "scope_tiers",
        ]
        labels = {
            "value": "Claim value",
            "team": "Add to team",
            "membership_role": "as",
            "role": "Grant role",
            "scope_team": "Limit the grant to team",
            "scope_region": "Limit the grant to region",
            "scope_zone": "Limit the grant to residency zone",
            "scope_tiers": "Limit the grant to tiers",
        }

    scope_tiers = forms.MultipleChoiceField(
        choices=Tier.choices, required=False, widget=forms.CheckboxSelectMultiple, label="Limit the grant to tiers"
    )

    def service_fields(self) -> dict[str, Any]:
        return {name: self.cleaned_data[name] for name in self.Meta.fields}


class SsoPreviewForm(forms.Form):
    provider = forms.CharField(max_length=64, required=False, help_text="The SSO provider id, e.g. entra or google.")
    claims = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 6, "spellcheck": "false"}),
        help_text='A JSON object, e.g. {"sub": "1234", "groups": ["eng-students", "leads"]}.',
    )

    def clean_claims(self) -> dict[str, Any]:
        text = self.cleaned_data["claims"]
        try:
            claims = json.loads(text)
        except json.JSONDecodeError as error:
            raise ValidationError(
                f"This is not valid JSON: {error.msg} at line {error.lineno}, column {error.colno}."
            ) from error
        if not isinstance(claims, dict):
            raise ValidationError('The claims must be a JSON object, e.g. {"groups": ["eng-students"]}.')
        return claims


class ReviewOpenForm(forms.Form):
    name = forms.CharField(max_length=200, initial="Quarterly access review")
    deadline = FutureDateTimeField()


class ReviewDecisionForm(forms.Form):
    decision = forms.ChoiceField(
        choices=[
            (AccessReviewItem.Decision.CONFIRMED, "Confirm"),
            (AccessReviewItem.Decision.REVOKED, "Revoke"),
        ]
    )
    note = forms.CharField(required=False, max_length=TEXT_MAX)
