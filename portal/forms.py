"""Form plumbing every app's pages share: running a service for a valid form, and showing its refusal."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect

T = TypeVar("T")


def changed_since_shown(data: Any, names: Iterable[str]) -> str:
    """The first of ``names`` whose posted value differs from the ``shown_<name>`` value the page was last drawn
    with: the field the person just changed, for a live check that moves the fields following it. "" when none
    did, or when the page posted no ``shown_`` values."""
    return next((name for name in names if f"shown_{name}" in data and data.get(name) != data.get(f"shown_{name}")), "")


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


def performed(request: HttpRequest, action: Callable[[], object], done: str, then: str) -> HttpResponse:
    """Perform a service's action for a button (retry, cancel, roll back) and go to ``then``.

    The service's refusal (a ValidationError) becomes error messages on the
    next page, success the ``done`` message.
    """
    try:
        action()
    except ValidationError as error:
        for message in error.messages:
            messages.error(request, message)
    else:
        messages.success(request, done)
    return redirect(then)
