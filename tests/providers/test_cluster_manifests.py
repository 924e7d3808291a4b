"""The manifests and quantities every cluster driver shares."""

from __future__ import annotations

from decimal import Decimal

import pytest

from providers.cluster import (
    MANAGED_BY_LABEL,
    IngressSpec,
    NamespaceSpec,
    differs,
    parse_quantity,
    render_ingress,
    render_namespace,
)


@pytest.mark.parametrize(
    ("quantity", "amount"),
    [
        ("250m", Decimal("0.25")),
        ("2", Decimal(2)),
        ("1Gi", Decimal(2**30)),
        ("12345n", Decimal("0.000012345")),
        ("1.5", Decimal("1.5")),
        ("2k", Decimal(2000)),
        (3, Decimal(3)),
    ],
)
def test_quantities_are_read_as_exact_amounts(quantity: str | int, amount: Decimal) -> None:
    assert parse_quantity(quantity) == amount


def test_a_value_that_is_not_a_quantity_is_refused() -> None:
    with pytest.raises(ValueError, match="not a Kubernetes quantity"):
        parse_quantity("lots")


def test_the_caller_cannot_override_the_managed_by_label() -> None:
    manifest = render_namespace(NamespaceSpec("x", {MANAGED_BY_LABEL: "someone-else", "team": "a"}))

    assert manifest["metadata"]["labels"] == {MANAGED_BY_LABEL: "platform-portal", "team": "a"}


def test_an_ingress_without_tls_or_limits_has_no_annotations() -> None:
    manifest = render_ingress(IngressSpec("ns", "web", "web.example", "web", 80))

    assert manifest["metadata"]["annotations"] == {}
    assert "tls" not in manifest["spec"]


def test_fields_the_server_adds_do_not_count_as_a_difference_but_changed_or_missing_ones_do() -> None:
    desired = {"metadata": {"labels": {"a": "1"}}, "spec": {"hard": {"cpu": "1"}}}

    assert not differs(
        desired, {"metadata": {"labels": {"a": "1", "b": "2"}, "uid": "u"}, "spec": {"hard": {"cpu": "1000m"}}}
    )
    assert differs(desired, {"metadata": {"labels": {"a": "2"}}, "spec": {"hard": {"cpu": "1"}}})
    assert differs(desired, {"metadata": {}, "spec": {"hard": {"cpu": "1"}}})
    assert differs({"metadata": {"labels": {"a": "1"}}}, {"metadata": {"labels": {"a": "1.0"}}})
