"""How long free text may be wherever a person types it: the pages' forms, the API and the models that keep it.

A description, a reason or a justification is read by people on pages and in
the audit log; 2,000 characters is a long paragraph. The models bound it too,
so a service's ``full_clean`` refuses what a form or serializer let through.
"""

from __future__ import annotations

from typing import Any

from django.core.validators import MaxLengthValidator
from django.db import models

TEXT_MAX = 2000


def bounded_text(verbose_name: str | None = None, **kwargs: Any) -> models.TextField[str, str]:
    """A ``TextField`` of at most :data:`TEXT_MAX` characters, checked by forms, serializers and ``full_clean``."""
    kwargs.update(max_length=TEXT_MAX, validators=[MaxLengthValidator(TEXT_MAX)])
    return models.TextField(verbose_name, **kwargs)
