from typing import Any

from django import template
from django.db.models import Model
from django.forms import BoundField
from django.urls import reverse
from django.utils.safestring import SafeString

from portal import live, numbers

register = template.Library()

TONE_BY_STATUS = {
    "active": "success",
    "ready": "success",
    "online": "success",
    "planned": "secondary",
    "provisioning": "info",
    "degraded": "warning",
    "offline": "warning",
    "unreachable": "danger",
    "retired": "dark",
    # red/amber/green judgements (regions.choices.Rating)
    "green": "success",
    "amber": "warning",
    "red": "danger",
}


@register.filter
def status_tone(status: str) -> str:
    """The Bootstrap colour of a status badge."""
    return TONE_BY_STATUS.get(str(status), "secondary")


@register.filter
def with_class(field: BoundField, css_class: str) -> SafeString:
    """Render a form field's widget with CSS classes, e.g. ``{{ field|with_class:"form-select" }}``."""
    return field.as_widget(attrs={"class": css_class})


@register.inclusion_tag("_live_status.html")
def live_status(kind: str, subject: Model) -> dict[str, Any]:
    """``{% live_status "environment" environment %}``: while the subject waits, its page asks every few seconds
    whether it changed and reloads when it has (portal/live.py); a settled subject's page asks nothing."""
    followed = live.subject_of(kind)
    if not followed.waits(subject):
        return {}
    return {
        "url": reverse("live_status", kwargs={"kind": kind, "pk": subject.pk}),
        "stamp": followed.stamp(subject),
        "seconds": live.POLL_SECONDS,
    }


@register.filter
def number(value: Any, places: int | None = None) -> str:
    """A number people read, grouped in the portal's locale: ``{{ count|number }}`` (1,234), ``{{ hours|number:2 }}``.

    See :mod:`portal.numbers`; None is a dash. Values that code reads (``data-*``, ``value=``) stay raw.
    """
    return numbers.number(value, None if places is None else int(places))
