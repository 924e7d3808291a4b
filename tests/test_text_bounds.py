"""Free text a person types is bounded everywhere it is kept: forms, the API and the models' full_clean."""

from __future__ import annotations

import pytest
from django.apps import apps
from django.core.exceptions import ValidationError
from django.db import models

from access.models import Team
from portal.bounds import TEXT_MAX, bounded_text

# Text the portal writes itself (an error it caught, a summary it made, a notification's body), not a person.
WRITTEN_BY_THE_PORTAL = {
    ("costs", "costsource", "last_error"),
    ("costs", "costlineitem", "resource_id"),
    ("costs", "costlineitem", "commitment_discount_id"),
    ("workflows", "run", "error"),
    ("workflows", "step", "error"),
    ("notifications", "notification", "body"),
    ("regions", "accesscheckresult", "summary"),
    ("costs", "anomaly", "reason"),
    ("deployments", "rollbackrequest", "error"),
    ("approvals", "approvaldecision", "reason"),  # bounded by its form and serializer (DecisionForm)
    ("costs", "budget", "chat_webhook_url"),  # a secret URL, bounded by its form (2,000 characters)
}
PORTAL_APPS = {
    "access",
    "approvals",
    "costs",
    "deployments",
    "environments",
    "notifications",
    "regions",
    "scorecards",
    "search",
    "workflows",
}


def test_every_text_field_a_person_types_is_bounded() -> None:
    unbounded = [
        (model._meta.app_label, model._meta.model_name, field.name)
        for model in apps.get_models()
        if model._meta.app_label in PORTAL_APPS
        for field in model._meta.get_fields()
        if isinstance(field, models.TextField) and field.editable and field.max_length is None
    ]
    assert sorted(set(unbounded) - WRITTEN_BY_THE_PORTAL) == []


@pytest.mark.django_db
def test_a_bounded_text_refuses_more_in_full_clean() -> None:
    team = Team(name="Long", slug="long", description="x" * (TEXT_MAX + 1))

    with pytest.raises(ValidationError) as refused:
        team.full_clean()

    assert refused.value.message_dict["description"] == [
        f"Ensure this value has at most {TEXT_MAX} characters (it has {TEXT_MAX + 1})."
    ]
    assert isinstance(bounded_text(), models.TextField)
