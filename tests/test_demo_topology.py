"""The demo platform (`portal.demo.load_demo`, the first thing `manage.py load_demo` loads): the spec's topology.

One load of the demo serves every test of the module (``shared_demo``); tests/test_demo_data.py runs the
command itself (twice, with DEBUG off, after a password change).
"""

from __future__ import annotations

import pytest
from django.db.models import Model, Q

from access.models import Grant, Membership, Role, SsoRule, Team, User
from portal.demo import DEMO_PASSWORD, Persona, username_of
from regions.choices import ClusterKind, Provider, ResidencyZone, WorkloadClass
from regions.models import CentreServer, CloudAccount, Cluster, Namespace, NodePool, Region

pytestmark = pytest.mark.shared_demo

SPEC_NAMESPACES = {"core-services", "student-services", "tutor-services", "admin-services", "analytics", "monitoring"}
PRIMARY_REGIONS = {
    (Provider.AWS, "eu-west-1", ResidencyZone.EU),
    (Provider.AWS, "ap-southeast-2", ResidencyZone.AU),
    (Provider.AWS, "us-east-1", ResidencyZone.US),
    (Provider.AZURE, "westeurope", ResidencyZone.EU),
    (Provider.AZURE, "australiaeast", ResidencyZone.AU),
    (Provider.AZURE, "eastus", ResidencyZone.US),
}
DEMO_MODELS: list[type[Model]] = [
    User,
    Team,
    Membership,
    Role,
    Grant,
    SsoRule,
    CloudAccount,
    Region,
    Cluster,
    NodePool,
    Namespace,
    CentreServer,
]


def test_it_registers_one_aws_account_and_one_azure_subscription(demo: None) -> None:
    assert sorted(CloudAccount.objects.values_list("provider", flat=True)) == [Provider.AWS, Provider.AZURE]


def test_it_creates_an_eu_au_and_us_region_on_both_providers(demo: None) -> None:
    for provider, code, zone in PRIMARY_REGIONS:
        region = Region.objects.get(provider=provider, code=code)
        assert region.residency_zone == zone
        assert region.account is not None
        assert region.account.provider == provider


def test_every_region_has_a_dr_partner_in_its_own_zone_and_the_pairing_is_mutual(demo: None) -> None:
    regions = list(Region.objects.select_related("dr_partner"))

    assert len(regions) == 12
    for region in regions:
        assert region.dr_partner is not None, f"{region.code} has no DR partner"
        assert region.dr_partner != region
        assert region.dr_partner.residency_zone == region.residency_zone
        assert region.dr_partner.provider == region.provider
        assert region.dr_partner.dr_partner_id == region.pk


def test_each_region_runs_a_managed_cluster_of_its_provider(demo: None) -> None:
    for region in Region.objects.all():
        managed = region.clusters.exclude(kind=ClusterKind.K3S)
        expected = ClusterKind.EKS if region.provider == Provider.AWS else ClusterKind.AKS
        assert [cluster.kind for cluster in managed] == [expected], region.code


def test_each_managed_cluster_has_a_general_a_high_cpu_and_a_gpu_pool(demo: None) -> None:
    for cluster in Cluster.objects.exclude(kind=ClusterKind.K3S):
        classes = sorted(cluster.node_pools.values_list("workload_class", flat=True))
        assert classes == sorted([WorkloadClass.GENERAL, WorkloadClass.HIGH_CPU, WorkloadClass.GPU]), cluster.name


def test_two_centre_servers_run_k3s_one_online_and_one_offline(demo: None) -> None:
    servers = list(CentreServer.objects.select_related("cluster", "region"))

    assert len(servers) == 2
    assert {server.status for server in servers} == {"online", "offline"}
    for server in servers:
        assert server.cluster is not None
        assert server.cluster.kind == ClusterKind.K3S
        assert server.cluster.region == server.region
        assert server.last_sync_at is not None


def test_every_cluster_has_the_six_namespaces_of_the_spec_each_owned_by_a_team(demo: None) -> None:
    for cluster in Cluster.objects.all():
        namespaces = list(cluster.namespaces.all())
        assert {namespace.name for namespace in namespaces} == SPEC_NAMESPACES, cluster.name
        assert all(namespace.team_id is not None for namespace in namespaces)


def test_there_is_one_demo_user_for_each_persona_with_the_published_password(demo: None) -> None:
    for persona in Persona:
        user = User.objects.get(username=username_of(persona))
        assert user.check_password(DEMO_PASSWORD)


def test_each_persona_holds_its_built_in_role_through_a_grant_not_a_superuser_flag(demo: None) -> None:
    assert not User.objects.filter(is_superuser=True).exists()
    for persona in Persona:
        user = User.objects.get(username=username_of(persona))
        held = Grant.objects.active().filter(Q(user=user) | Q(grantee_team__members=user))
        assert held.filter(role__slug=persona.value).exists(), persona


def test_the_team_lead_leads_a_team_and_approves_for_that_team_only(demo: None) -> None:
    lead = User.objects.get(username=username_of(Persona.TEAM_LEAD))
    grant = Grant.objects.get(user=lead, role__slug=Persona.TEAM_LEAD.value)
    assert grant.team is not None
    assert lead.memberships.get(team=grant.team).role == Membership.Role.LEAD

    assert lead.memberships.filter(role=Membership.Role.LEAD).exists()


@pytest.mark.parametrize("model", DEMO_MODELS, ids=lambda model: model.__name__)
def test_every_demo_object_passes_validation(model: type[Model], demo: None) -> None:
    objects = list(model._default_manager.all())

    assert objects
    for instance in objects:
        instance.full_clean()
