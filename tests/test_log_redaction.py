"""Secrets never reach a log line: real log calls through the handler and formatters LOGGING configures."""

from __future__ import annotations

import copy
import io
import json
import logging
import logging.config
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.conf import settings

from portal.logging import REDACTED, RedactSecrets, redact_text

LogLines = Callable[[], str]


def console_handler() -> logging.StreamHandler[io.StringIO]:
    handler = next(h for h in logging.getLogger().handlers if h.name == "console")
    assert isinstance(handler, logging.StreamHandler)
    return handler


def configured_formatter(name: str) -> logging.Formatter:
    """A formatter exactly as LOGGING describes it (json or text)."""
    configurator = logging.config.DictConfigurator(copy.deepcopy(settings.LOGGING))
    formatter: logging.Formatter = configurator.configure_formatter(configurator.config["formatters"][name])
    return formatter


@pytest.fixture(params=["json", "text"])
def log_format(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def output(log_format: str) -> Iterator[LogLines]:
    """What the configured console handler writes, in the given format."""
    handler = console_handler()
    buffer = io.StringIO()
    previous_stream, previous_formatter = handler.setStream(buffer), handler.formatter
    handler.setFormatter(configured_formatter(log_format))
    try:
        yield buffer.getvalue
    finally:
        handler.setFormatter(previous_formatter)
        if previous_stream is not None:
            handler.setStream(previous_stream)


logger = logging.getLogger("portal.tests.redaction")


def test_the_redaction_filter_is_installed_on_the_configured_handler_before_the_others() -> None:
    logging_config: dict[str, Any] = settings.LOGGING
    assert logging_config["handlers"]["console"]["filters"][0] == "redact"
    assert isinstance(console_handler().filters[0], RedactSecrets)


@pytest.mark.parametrize(
    ("message", "secret"),
    [
        ("connecting with password=hunter2-but-longer", "hunter2-but-longer"),
        ("client_secret: az~Very.Secret_value", "az~Very.Secret_value"),
        ('{"api_key": "k-1234567890abcdef"}', "k-1234567890abcdef"),
        ("aws_secret_access_key=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
        ("private_key=MIIEvQIBADANBgkqhkiG9w0BAQEFAASC", "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC"),
        ("sent Authorization: Bearer abc.def-ghi_jkl", "abc.def-ghi_jkl"),
        ("upstream answered 401 for bearer s3cr3t-opaque-token", "s3cr3t-opaque-token"),
        ("token ppt_ab12cd34_Zy9XwVuTsRqPoNmLkJiH was used", "ppt_ab12cd34_Zy9XwVuTsRqPoNmLkJiH"),
        (
            "jwt eyJhbGciOiJIUzI1NiJ9.eyJ1c2VyX2lkIjo0Mn0.dBjftJeZ4CVPmB92K27uhbUJU1p1r_wW1gFWFOEjXk rejected",
            "eyJ1c2VyX2lkIjo0Mn0",
        ),
        ("db at postgres://portal:pa55w0rd-db@db.example.com:5432/portal down", "pa55w0rd-db"),
        ("broker redis://:r3dis-pass@redis:6379/0 down", "r3dis-pass"),
    ],
)
def test_secrets_in_a_message_are_redacted(output: LogLines, message: str, secret: str) -> None:
    logger.warning(message)

    assert secret not in output()
    assert REDACTED in output()


def test_secrets_passed_as_arguments_are_redacted_and_the_rest_of_the_message_kept(output: LogLines) -> None:
    logger.warning("calling %s with token=%s for %s", "Azure", "tok-very-secret-1", "team tutor-tools")

    assert "tok-very-secret-1" not in output()
    assert "calling Azure with token=[REDACTED] for team tutor-tools" in output()


def test_extra_fields_named_like_secrets_are_redacted_and_others_kept(output: LogLines, log_format: str) -> None:
    logger.warning(
        "assumed role",
        extra={
            "client_secret": "xtra-secret-1",
            "headers": {"Authorization": "Basic dXNlcjpwYXNz", "Accept": "application/json"},
            "database_url": "postgresql://app:xtra-secret-2@db/app",
            "account": "123456789012",
        },
    )

    written = output()
    for secret in ("xtra-secret-1", "dXNlcjpwYXNz", "xtra-secret-2"):
        assert secret not in written
    if log_format == "json":
        line = json.loads(written)
        assert line["client_secret"] == REDACTED
        assert line["headers"] == {"Authorization": REDACTED, "Accept": "application/json"}
        assert line["database_url"] == f"postgresql://app:{REDACTED}@db/app"
        assert line["account"] == "123456789012"
        assert line["message"] == "assumed role"


def test_a_dict_message_is_redacted_by_key(output: LogLines) -> None:
    logger.warning({"event": "sign-in", "password": "dict-secret-1"})

    assert "dict-secret-1" not in output()
    assert "sign-in" in output()


def test_a_traceback_is_redacted(output: LogLines) -> None:
    try:
        raise RuntimeError("could not connect to postgres://portal:trace-secret@db/portal")
    except RuntimeError:
        logger.exception("connection failed")

    assert "trace-secret" not in output()
    assert "RuntimeError" in output()
    assert "connection failed" in output()


def test_the_request_id_still_reaches_the_log_line(output: LogLines, log_format: str) -> None:
    logger.warning("plain message")

    written = output()
    if log_format == "json":
        assert "request_id" in json.loads(written)
    assert "plain message" in written


def test_ordinary_text_is_left_alone() -> None:
    text = "Namespace tutor-tools-prod created in eu-west-1 by alice (3 tokens left, ratio 2:1)"

    assert redact_text(text) == text
