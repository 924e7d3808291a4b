"""Template tags of the access app: "who can do what on this object", audit verbs in words."""

from __future__ import annotations

from typing import Any

from django import template

from access import policy, selectors
from access.audit import selectors as audit_selectors
from access.audit import services as audit
from access.models import Grant

register = template.Library()


@register.inclusion_tag("access/_who_can.html", takes_context=True)
def who_can(context: dict[str, Any], obj: Any) -> dict[str, Any]:
    """Who holds each permission on ``obj``; rendered only for people who may see grants (``access.view``).

    The grants listed are those the viewer may see, so a team lead sees the grants on their team only.
    """
    request = context.get("request")
    user = getattr(request, "user", None)
    if user is None or not policy.can(user, policy.VIEW, Grant):
        return {"who_can": None}
    kind = getattr(getattr(obj, "_meta", None), "verbose_name", "object")
    return {"who_can": selectors.who_can(obj, viewer=user), "obj": obj, "kind": f"the {kind}"}


@register.filter
def object_type_label(object_type: str) -> str:
    """What an audit event's object is, in words: ``{{ event.object_type|object_type_label }}``."""
    return audit_selectors.object_type_label(object_type)


@register.filter
def verb_label(verb: str) -> str:
    """An audit verb in words: ``{{ event.verb|verb_label }}``."""
    return audit.verb_label(verb)
