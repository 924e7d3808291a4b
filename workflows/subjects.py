"""Which kinds of subject a run may be asked about by name, filled by the apps that own them.

The workflow engine imports no domain app: an app that shows its runs registers its subject model here under a
public name (``subjects.register("environment", Environment)`` in its ``AppConfig.ready``), and the runs API maps
the name a caller gives to the model, and a run's subject back to its name, through this table.
"""

from __future__ import annotations

from django.contrib.contenttypes.models import ContentType
from django.db import models

_models: dict[str, type[models.Model]] = {}


def register(name: str, model: type[models.Model]) -> None:
    """Let runs of ``model``'s objects be asked for as ``subject_type=name``; registering again is harmless."""
    known = _models.get(name)
    if known is not None and known is not model:
        raise ValueError(f"The subject name {name!r} is taken by {known.__name__}.")
    _models[name] = model


def names() -> list[str]:
    return sorted(_models)


def model_for(name: str) -> type[models.Model] | None:
    return _models.get(name)


def name_by_content_type_id() -> dict[int, str]:
    """Each registered model's content type id and its name (content types are cached after the first ask)."""
    return {ContentType.objects.get_for_model(model).pk: name for name, model in _models.items()}
