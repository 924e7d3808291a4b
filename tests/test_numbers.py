"""Numbers as people read them: grouped in the portal's locale (PORTAL_LANGUAGE_CODE), a dash for none, no "-0.00"."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.template import Context, Template
from django.test import override_settings
from django.utils import translation

from portal import numbers


def render(text: str, **context: object) -> str:
    return Template("{% load portal_tags costs_tags %}" + text).render(Context(context))


@pytest.mark.parametrize(
    ("language", "expected"),
    [("en-gb", "1,234,567.89"), ("de", "1.234.567,89"), ("fr", "1\N{NO-BREAK SPACE}234\N{NO-BREAK SPACE}567,89")],
)
def test_money_groups_thousands_with_the_locale_separators(language: str, expected: str) -> None:
    with override_settings(LANGUAGE_CODE=language):
        assert render("{{ amount|money }}", amount=Decimal("1234567.891")) == expected


@pytest.mark.parametrize(
    ("language", "expected"), [("en-gb", "1,234,567 · 1,234.5 · 0.75"), ("de", "1.234.567 · 1.234,5 · 0,75")]
)
def test_number_groups_counts_and_decimals_with_the_locale_separators(language: str, expected: str) -> None:
    with override_settings(LANGUAGE_CODE=language):
        text = render(
            "{{ count|number }} · {{ share|number }} · {{ hours|number:2 }}",
            count=1234567,
            share=Decimal("1234.5"),
            hours=0.749,
        )

    assert text == expected


def test_none_is_a_dash() -> None:
    assert render(
        "{{ amount|money }} {{ count|number }} {{ hours|number:2 }}", amount=None, count=None, hours=None
    ) == ("- - -")


@pytest.mark.parametrize("value", [Decimal("-0.001"), Decimal("-0.004"), -0.0, Decimal("-0")])
def test_an_amount_that_rounds_to_nothing_is_zero_without_a_sign(value: object) -> None:
    assert numbers.money(value) == "0.00"
    assert numbers.number(value, 2) == "0.00"


def test_money_rounds_half_to_even_to_the_cent_and_keeps_a_real_minus() -> None:
    assert [numbers.money(Decimal(value)) for value in ["0.125", "0.135", "-1234.565", "7"]] == [
        "0.12",
        "0.14",
        "-1,234.56",
        "7.00",
    ]


def test_number_keeps_the_digits_a_decimal_carries_unless_told_how_many() -> None:
    assert numbers.number(Decimal("112.7")) == "112.7"
    assert numbers.number(Decimal("100.0")) == "100.0"
    assert numbers.number(Decimal("2920.000").normalize()) == "2,920"
    assert numbers.number(Decimal("2.345"), 2) == "2.35"  # half up, as floatformat
    assert numbers.number(12.5, 0) == "13"


def test_text_that_is_no_number_comes_back_as_it_is() -> None:
    assert render("{{ value|number }} {{ value|money }}", value="unknown") == "unknown unknown"
    assert numbers.number("1234.50") == "1,234.50"  # a figure kept as text in JSON is still a number


def test_a_thread_language_does_not_move_the_numbers_off_the_portal_locale() -> None:
    """Translation is off (Django's words must not turn German on an English page), so only the setting counts."""
    with translation.override("de"):
        assert render("{{ amount|money }}", amount=Decimal("1234.5")) == "1,234.50"
    with override_settings(LANGUAGE_CODE="de"):
        assert render("{{ amount|money }}", amount=Decimal("1234.5")) == "1.234,50"
