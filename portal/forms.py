"""Form plumbing every app's pages share: running a service for a valid form, and showing its refusal."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from django import forms
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest

T = TypeVar("T")


def add_service_error(form: forms.BaseForm, error: ValidationError | PermissionDenied) -> None:
    """Show a service's refusal on the form, next to the field it is about when there is one."""
    if isinstance(error, PermissionDenied):
        form.add_error(None, str(error))
        return
    if hasattr(error, "error_dict"):
        for name, messages in error.message_dict.items():
            form.add_error(name if name in form.fields else None, messages)
    else:
        form.add_error(None, error.messages)


def saved(request: HttpRequest, form: forms.BaseForm, save: Callable[[dict[str, Any]], T]) -> T | None:
    """On a valid POST, what ``save`` (a service call) returned for the form's data; else None.

    A service's refusal (``ValidationError``, ``PermissionDenied``) is shown on
    the form, next to the field it is about, and None is returned.
    """
    if request.method != "POST" or not form.is_valid():
        return None
    try:
        return save(form.cleaned_data)
    except (ValidationError, PermissionDenied) as error:
        add_service_error(form, error)
        return None
