"""The portal's form renderer: Django's templates for every widget, except a select, which is written in Python.

A select is the one widget whose size grows with the data (a filter of every environment or service one may see
holds hundreds of options), and the template engine spent more on its options than on the rest of a page. The
HTML is what Django's own select template writes, with the empty choice in words: "Choose one" when a choice is
required, "None" when it is not (Django writes "---------").
"""

from __future__ import annotations

from typing import Any

from django.forms.renderers import TemplatesSetting
from django.http import HttpRequest
from django.utils.html import conditional_escape
from django.utils.safestring import SafeString, mark_safe

SELECT = "django/forms/widgets/select.html"
DJANGO_EMPTY_LABEL = "---------"


def _attributes(attrs: dict[str, Any]) -> str:
    """Attributes as Django's attrs.html writes them: a False value left out, a True one bare."""
    written = []
    for name, value in attrs.items():
        if value is False:
            continue
        written.append(f" {name}" if value is True else f' {name}="{conditional_escape(str(value))}"')
    return "".join(written)


def select_html(widget: dict[str, Any]) -> SafeString:
    """A select from its widget context (``Select.get_context()["widget"]``): groups, options, the chosen ones."""
    empty = "Choose one" if widget["attrs"].get("required") else "None"
    parts = [f'<select name="{conditional_escape(widget["name"])}"{_attributes(widget["attrs"])}>']
    for group_name, options, _ in widget["optgroups"]:
        if group_name:
            parts.append(f'\n  <optgroup label="{conditional_escape(group_name)}">')
        for option in options:
            label = option["label"]
            text = empty if label == DJANGO_EMPTY_LABEL else conditional_escape(label)
            value = conditional_escape(str(option["value"]))
            parts.append(f'\n  <option value="{value}"{_attributes(option["attrs"])}>{text}</option>')
        if group_name:
            parts.append("\n  </optgroup>")
    parts.append("\n</select>")
    return mark_safe("".join(parts))  # noqa: S308 - every name, value and label above is escaped  # nosec B308 B703


class PortalFormRenderer(TemplatesSetting):
    """Widgets render through TEMPLATES (so templates/django/forms/ can word them), selects in Python."""

    def render(self, template_name: str, context: dict[str, Any], request: HttpRequest | None = None) -> str:
        if template_name == SELECT:
            return select_html(context["widget"])
        return super().render(template_name, context, request)
