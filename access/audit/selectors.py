"""Reads of the audit log, always scoped by the policy.

The log grows without bound (a million events is normal after a few years),
so pages are cut by keyset on the primary key, never by OFFSET, and no page
counts the whole log.

An event's details (before, after, extra) are read here too, as a page shows
them: in words, escaped and bounded (:func:`audit_event_details`).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal, TypeGuard

from django.apps import apps
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import FieldDoesNotExist
from django.db import models
from django.db.models import QuerySet
from django.utils import dateformat, timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.text import capfirst

from access import policy
from access.models import AuditEvent, User
from portal import numbers

AnyUser = User | AnonymousUser


def audit_event_list(*, user: AnyUser, action: str = policy.VIEW) -> QuerySet[AuditEvent]:
    """The events ``user`` may ``action`` (view or export), newest first."""
    return policy.restrict(AuditEvent.objects.all(), user, action).select_related("team").order_by("-pk")


@dataclass(frozen=True)
class EventPage:
    """One page of events, newest first, with the cursors of its neighbours (None: no such page)."""

    events: list[AuditEvent]
    newer_than: int | None
    older_than: int | None


def audit_event_page(
    events: QuerySet[AuditEvent], *, size: int, before: int | None = None, after: int | None = None
) -> EventPage:
    """A keyset page of ``events``: those older than ``before``, or newer than ``after``, or the newest.

    Each page is one indexed range scan on the primary key, as fast for the
    millionth event as for the first.
    """
    if after is not None:
        rows = list(events.filter(pk__gt=after).order_by("pk")[: size + 1])
        more_newer = len(rows) > size
        page = list(reversed(rows[:size]))
        return EventPage(page, page[0].pk if page and more_newer else None, page[-1].pk if page else None)
    if before is not None:
        events = events.filter(pk__lt=before)
    rows = list(events[: size + 1])
    page = rows[:size]
    older = page[-1].pk if page and len(rows) > size else None
    newer = page[0].pk if page and before is not None else None
    return EventPage(page, newer, older)


# --- an event's details as a person reads them ------------------------------------------------
#
# ``before``, ``after`` and ``extra`` are JSON written by the services (``audit.snapshot``). On a page they read
# as words: fields by their model field's verbose name, choices by their label, booleans as Yes/No, nothing as an
# em dash, lists joined, dicts as small definition lists, and a dict that changed as one row per changed key.
# Everything is escaped here (the values come from people), and bounded, so no value can make a page huge. The
# CSV export keeps the JSON as it was recorded; it is what machines read.

MAX_ITEMS = 50  # items of one list, or keys of one dict, shown before "and N more"
MAX_DEPTH = 4  # levels of nesting shown; a deeper list or dict is named by its size
MAX_TEXT = 2_000  # characters of one text shown before the rest is counted
MAX_VALUES = 300  # values shown in one cell however they nest, so a wide and deep value stays small

# Words a page writes in capitals (or its own way) when a key is turned into words: "max_ttl_hours" -> "Max TTL hours".
KNOWN_WORDS = {
    "api": "API",
    "aws": "AWS",
    "cidr": "CIDR",
    "cpu": "CPU",
    "cpus": "CPUs",
    "csv": "CSV",
    "dns": "DNS",
    "dr": "DR",
    "gb": "GB",
    "gib": "GiB",
    "gpu": "GPU",
    "gpus": "GPUs",
    "http": "HTTP",
    "https": "HTTPS",
    "id": "ID",
    "ids": "IDs",
    "idp": "IdP",
    "ip": "IP",
    "jti": "JWT ID",
    "jwt": "JWT",
    "k8s": "Kubernetes",
    "mfa": "MFA",
    "mib": "MiB",
    "oidc": "OIDC",
    "rps": "RPS",
    "saml": "SAML",
    "sso": "SSO",
    "tls": "TLS",
    "ttl": "TTL",
    "url": "URL",
    "urls": "URLs",
    "vpc": "VPC",
}
_KEY_SHAPE = re.compile(r"[a-z][a-z0-9]*(?:_[a-z0-9]+)*")
_ISO_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2})")
DATETIME_FORMAT = "j M Y H:i:s T"  # as the audit log shows when an event occurred
DATE_FORMAT = "j M Y"

_FieldKind = Literal["text", "date", "datetime"]


@functools.lru_cache(maxsize=256)
def model_of(object_type: str) -> type[models.Model] | None:
    """The model an event's ``object_type`` names (``app_label.model``, as ``audit.record`` stores it), if any."""
    try:
        return apps.get_model(object_type)
    except (LookupError, ValueError):
        return None


def object_type_label(object_type: str) -> str:
    """What an event's ``app_label.modelname`` is called ("Periodic task"), or the text as recorded if unknown."""
    model = model_of(object_type)
    return capfirst(str(model._meta.verbose_name)) if model is not None else object_type


def model_field(model: type[models.Model] | None, key: str) -> models.Field[Any, Any] | None:
    """The field of ``model`` that ``key`` names (``dr_partner_id`` names the ``dr_partner`` foreign key)."""
    if model is None:
        return None
    for name in (key, key.removesuffix("_id")):
        try:
            field = model._meta.get_field(name)
        except FieldDoesNotExist:
            continue
        if isinstance(field, models.Field):  # not a reverse relation, which has no verbose name
            return field
    return None


def in_words(text: str) -> str:
    """Words with the known abbreviations written as a page writes them: "max ttl hours" -> "max TTL hours"."""
    return " ".join(KNOWN_WORDS.get(word, word) for word in text.split(" "))


def field_label(key: str, model: type[models.Model] | None = None) -> str:
    """What a page calls the field ``key``: its model field's verbose name, else the key in words, capitalised.

    A key that is not a snake_case name (``requests.cpu``, ``X-Trace``) is data, not a name, and stays as it is.
    """
    field = model_field(model, key)
    if field is not None:
        text = in_words(str(field.verbose_name))
    elif _KEY_SHAPE.fullmatch(key):
        text = in_words(key.replace("_", " "))
    else:
        return key
    return text[:1].upper() + text[1:]


@dataclass(frozen=True)
class _Reading:
    """How a field's value reads: its choices' labels (for list items too, for an array of choices), and its kind."""

    choices: dict[Any, str]
    kind: _FieldKind

    @classmethod
    def of(cls, field: models.Field[Any, Any] | None) -> _Reading:
        if field is None:
            return cls({}, "text")
        item_field = getattr(field, "base_field", None) or field  # an ArrayField's items
        choices = {value: str(label) for value, label in (item_field.flatchoices or [])}
        if isinstance(item_field, models.DateTimeField):
            return cls(choices, "datetime")
        if isinstance(item_field, models.DateField):
            return cls(choices, "date")
        return cls(choices, "text")


_PLAIN = _Reading({}, "text")


class _Budget:
    """How many more values one cell (or rows one field) may show."""

    def __init__(self, left: int = MAX_VALUES) -> None:
        self.left = left

    def spend(self) -> bool:
        self.left -= 1
        return self.left >= 0


def _blank(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


def is_reference(value: Any) -> bool:
    """A model as ``audit.snapshot`` records it: ``{"id": 3, "repr": "Tutor Tools"}``."""
    return isinstance(value, dict) and set(value) == {"id", "repr"}


def _differ(old: Any, new: Any) -> bool:
    """Whether a value changed, as a page shows it: nothing recorded and an empty value (None, "", [], {}) read
    alike, and two dicts differ only where one of their keys does."""
    if _blank(old) and _blank(new):
        return False
    if _is_group(old) and _is_group(new):
        return any(_differ(old.get(name), new.get(name)) for name in set(old) | set(new))
    return bool(old != new)


def _is_group(value: Any) -> TypeGuard[dict[str, Any]]:
    """A dict a page shows key by key (a model reference reads as its name instead)."""
    return isinstance(value, dict) and not is_reference(value)


def _empty() -> SafeString:
    return format_html('<span class="text-body-secondary">{}</span>', "—")


def _more(count: int, what: str = "more") -> SafeString:
    return format_html('<span class="text-body-secondary audit-more">and {} {}</span>', numbers.number(count), what)


def _text(value: str, reading: _Reading) -> SafeString:
    if value in reading.choices:
        return format_html("{}", reading.choices[value])
    if reading.kind == "datetime" or (reading.kind == "text" and _ISO_DATETIME.fullmatch(value)):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            moment = None
        if moment is not None and timezone.is_aware(moment):
            return format_html("{}", dateformat.format(timezone.localtime(moment), DATETIME_FORMAT))
    if reading.kind == "date":
        try:
            return format_html("{}", dateformat.format(date.fromisoformat(value), DATE_FORMAT))
        except ValueError:
            pass
    if len(value) > MAX_TEXT:
        return format_html("{}… {}", value[:MAX_TEXT], _more(len(value) - MAX_TEXT, "more characters"))
    return format_html("{}", value)


def _scalar(value: Any, reading: _Reading) -> SafeString:
    if isinstance(value, bool):
        return format_html("{}", "Yes" if value else "No")
    if is_reference(value):
        return format_html("{}", value["repr"] or f"#{value['id']}")
    if isinstance(value, str):
        return _text(value, reading)
    if isinstance(value, int | float) and value in reading.choices:
        return format_html("{}", reading.choices[value])
    return format_html("{}", value)


def _render(value: Any, reading: _Reading, depth: int, budget: _Budget) -> SafeString:
    if _blank(value):
        return _empty()
    if not isinstance(value, list) and not _is_group(value):
        budget.spend()
        return _scalar(value, reading)
    size = len(value)
    if depth >= MAX_DEPTH:
        return format_html("{} {}", size, ("item" if isinstance(value, list) else "key") + ("" if size == 1 else "s"))
    shown: list[SafeString] = []
    pairs = list(value.items()) if isinstance(value, dict) else list(enumerate(value))
    for key, item in pairs[:MAX_ITEMS]:
        if budget.left <= 0:
            break
        # Choices and kind belong to the field's own value and, for an array field, to its items; not deeper.
        rendered = _render(item, reading if isinstance(value, list) else _PLAIN, depth + 1, budget)
        shown.append(format_html("<dt>{}</dt><dd>{}</dd>", key, rendered) if isinstance(value, dict) else rendered)
    rest = size - len(shown)
    if isinstance(value, dict):
        more = _more(rest) if rest else ""
        return format_html('<dl class="audit-dict">{}</dl>{}', format_html_join("", "{}", ((x,) for x in shown)), more)
    if any(isinstance(item, list) or _is_group(item) for item in value):
        more = format_html("<li>{}</li>", _more(rest)) if rest else ""
        items = format_html_join("", "<li>{}</li>", ((x,) for x in shown))
        return format_html('<ul class="audit-list">{}{}</ul>', items, more)
    joined = format_html_join(", ", "{}", ((x,) for x in shown))
    return format_html("{} {}", joined, _more(rest)) if rest else joined


def value_html(value: Any, field: models.Field[Any, Any] | None = None) -> SafeString:
    """A JSON value of an event as escaped HTML a person reads, within the bounds above.

    ``field`` (the model field the value was recorded from, if known) lends its choices' labels and its kind
    (dates read as dates).
    """
    return _render(value, _Reading.of(field), 0, _Budget())


@dataclass(frozen=True)
class Change:
    """One row of an event's before/after: a field, or one key inside a dict field that changed.

    ``key`` is the field's key as recorded (a page keeps it as a title, for auditors who search by it); ``path``
    the keys inside the field's dict down to the value that changed (empty for the field itself).
    """

    key: str
    label: str
    before: SafeString
    after: SafeString
    changed: bool
    path: tuple[str, ...] = ()
    has_before: bool = True
    has_after: bool = True


@dataclass(frozen=True)
class Detail:
    """One entry of an event's ``extra``, in words."""

    key: str
    label: str
    value: SafeString


@dataclass(frozen=True)
class EventDetails:
    """What an expanded event shows: the fields it changed and its extra detail."""

    changes: list[Change]
    extra: list[Detail]


def _change(
    key: str, label: str, old: Any, new: Any, field: models.Field[Any, Any] | None, path: tuple[str, ...] = ()
) -> Change:
    return Change(
        key,
        label,
        value_html(old, field),
        value_html(new, field),
        _differ(old, new),
        path,
        has_before=not _blank(old),
        has_after=not _blank(new),
    )


def _dict_changes(
    key: str, label: str, old: dict[str, Any], new: dict[str, Any], path: tuple[str, ...], rows_left: _Budget
) -> list[Change]:
    """One row per key whose value differs between the two dicts, nested dicts followed down.

    A field gets at most :data:`MAX_ITEMS` such rows; the keys left over at each level share one more row.
    """
    changed = [name for name in sorted(set(old) | set(new)) if _differ(old.get(name), new.get(name))]
    rows: list[Change] = []
    done = 0
    for name in changed:
        if rows_left.left <= 0:
            break
        before, after = old.get(name), new.get(name)
        if _is_group(before) and _is_group(after) and len(path) + 1 < MAX_DEPTH:
            rows += _dict_changes(key, label, before, after, (*path, name), rows_left)
        else:
            rows_left.spend()
            rows.append(_change(key, label, before, after, None, (*path, name)))
        done += 1
    rest = changed[done:]
    if rest:
        before = {name: old[name] for name in rest if name in old}
        after = {name: new[name] for name in rest if name in new}
        more = f"{numbers.number(len(rest))} more key" + ("" if len(rest) == 1 else "s")
        rows.append(_change(key, label, before, after, None, (*path, more)))
    return rows


def audit_event_changes(event: AuditEvent) -> list[Change]:
    """The fields in ``before`` or ``after`` in words, by label; a dict that changed as one row per changed key."""
    model = model_of(event.object_type)
    before, after = event.before, event.after
    if not isinstance(before, dict | None) or not isinstance(after, dict | None):
        return [_change("", "Value", before, after, None)]  # not written by ``audit.record``: shown as it is
    before, after = before or {}, after or {}
    rows: list[Change] = []
    for key in sorted(set(before) | set(after), key=lambda key: (field_label(key, model).lower(), key)):
        old, new = before.get(key), after.get(key)
        label = field_label(key, model)
        if _is_group(old) and _is_group(new) and _differ(old, new):
            rows += _dict_changes(key, label, old, new, (), _Budget(MAX_ITEMS))
        else:
            rows.append(_change(key, label, old, new, model_field(model, key)))
    return rows


def audit_event_extra(event: AuditEvent) -> list[Detail]:
    """The event's ``extra`` in words, by label."""
    extra = event.extra
    if _blank(extra):
        return []
    if not isinstance(extra, dict):
        return [Detail("", "Detail", value_html(extra))]
    model = model_of(event.object_type)
    return sorted(
        (
            Detail(key, field_label(key, model), value_html(value, model_field(model, key)))
            for key, value in extra.items()
        ),
        key=lambda detail: (detail.label.lower(), detail.key),
    )


def audit_event_details(event: AuditEvent) -> EventDetails:
    """An event's before/after and extra as a page shows them (escaped, bounded, in words)."""
    return EventDetails(audit_event_changes(event), audit_event_extra(event))
