"""How a model tells the policy what its objects are about.

Grants are limited by attributes (a team, a region, a residency zone, an
environment tier). Each model the policy guards declares, once, which policy
domain its actions belong to and the ORM path to each attribute it has::

    @scoped("inventory", region="region", zone="region__residency_zone")
    class Cluster(models.Model): ...

An attribute a model does not declare never matches a grant limited by it:
a grant limited to one team says nothing about objects no team owns.
This module imports no model, so every app can use it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from django.db import models

ATTRIBUTES = ("team", "region", "zone", "tier")


@dataclass(frozen=True)
class Scope:
    """A model's policy domain and the ORM lookup of each attribute it has ("pk" for itself)."""

    domain: str
    team: str | None = None
    region: str | None = None
    zone: str | None = None
    tier: str | None = None

    def lookup(self, attribute: str) -> str | None:
        value: str | None = getattr(self, attribute)
        return value

    def value_of(self, obj: models.Model, attribute: str) -> Any:
        """The attribute's value on an instance (saved or not), following foreign keys in memory."""
        path = self.lookup(attribute)
        if path is None:
            return None
        if path == "pk":
            return obj.pk
        *hops, last = path.split("__")
        current: Any = obj
        for hop in hops:
            current = getattr(current, hop, None)
            if current is None:
                return None
        field = current._meta.get_field(last)
        if field.is_relation and field.concrete:  # a foreign key or one-to-one field: compare its id
            return getattr(current, field.attname)
        if last == "pk":
            return current.pk
        return getattr(current, last)


ModelT = TypeVar("ModelT", bound=type[models.Model])


def scoped(domain: str, **attributes: str) -> Callable[[ModelT], ModelT]:
    """Class decorator: declare a model's policy domain and attribute lookups."""
    unknown = set(attributes) - set(ATTRIBUTES)
    if unknown:
        raise TypeError(f"unknown policy attributes: {sorted(unknown)}")

    def decorate(model: ModelT) -> ModelT:
        model.policy_scope = Scope(domain, **attributes)  # type: ignore[attr-defined]
        return model

    return decorate


def scope_of(obj: Any) -> Scope | None:
    """The scope declared by ``obj``'s model (``obj`` is an instance or a model class)."""
    scope = getattr(obj, "policy_scope", None)
    return scope if isinstance(scope, Scope) else None
