"""The manifests and quantities every cluster driver shares."""

from __future__ import annotations

from decimal import Decimal

import pytest

from providers.cluster import (
    MANAGED_BY_LABEL,
    IngressSpec,
    LimitRangeSpec,
    Manifest,
    NamespaceSpec,
    NetworkPolicySpec,
    ResourceQuotaSpec,
    RoleBindingSpec,
    Subject,
    differs,
    parse_quantity,
    render_ingress,
    render_limit_range,
    render_namespace,
    render_network_policy,
    render_resource_quota,
    render_role_binding,
)
from tests.providers.kube_fake import SCHEMA_VERSIONS, schema_problem

TEAM = {"portal.example/team": "payments"}
# Every manifest the portal writes, in its fullest and its barest form.
MANIFESTS: dict[str, Manifest] = {
    "namespace": render_namespace(NamespaceSpec("payments-dev", TEAM, {"portal.example/owner": "ana"})),
    "bare namespace": render_namespace(NamespaceSpec("payments-dev")),
    "resource quota": render_resource_quota(
        ResourceQuotaSpec("payments-dev", {"requests.cpu": "8", "requests.memory": "16Gi", "pods": "50"}, labels=TEAM)
    ),
    "limit range": render_limit_range(
        LimitRangeSpec("payments-dev", {"cpu": "1", "memory": "1Gi"}, {"cpu": "250m"}, {"cpu": "4"}, labels=TEAM)
    ),
    "bare limit range": render_limit_range(LimitRangeSpec("payments-dev")),
    "role binding": render_role_binding(
        RoleBindingSpec("payments-dev", "portal-team-edit", "edit", (Subject("Group", "devs"), Subject("User", "ana")))
    ),
    "network policy": render_network_policy(NetworkPolicySpec("payments-dev", ("monitoring",), labels=TEAM)),
    "deny-all network policy": render_network_policy(NetworkPolicySpec("payments-dev", (), False)),
    "ingress": render_ingress(
        IngressSpec("payments-dev", "api", "api.example", "api", 8080, "api-tls", 20, ("10.0.0.0/8",), ("1.2.3.4/32",))
    ),
    "plain ingress": render_ingress(IngressSpec("payments-dev", "api", "api.example", "api", 80)),
}


@pytest.mark.parametrize("version", SCHEMA_VERSIONS)
@pytest.mark.parametrize("name", sorted(MANIFESTS))
def test_every_manifest_the_portal_writes_passes_the_kubernetes_openapi_schema(name: str, version: str) -> None:
    assert schema_problem(MANIFESTS[name], version) is None


def test_a_manifest_with_a_misspelt_or_mistyped_field_fails_the_schema() -> None:
    misspelt = render_limit_range(LimitRangeSpec("payments-dev", {"cpu": "1"}))
    misspelt["spec"]["limits"][0]["defaultRequests"] = {"cpu": "1"}
    mistyped = render_ingress(IngressSpec("payments-dev", "api", "api.example", "api", 80))
    mistyped["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["port"]["number"] = "80"

    for version in SCHEMA_VERSIONS:
        assert "'defaultRequests' was unexpected" in str(schema_problem(misspelt, version))
        assert "spec.rules.0.http.paths.0.backend.service.port.number" in str(schema_problem(mistyped, version))


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
