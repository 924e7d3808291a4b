"""factory_boy factories for every model; later issues add theirs here."""

from __future__ import annotations

from datetime import timedelta

import factory
from django.utils import timezone

from access.models import AccessReview, Grant, Membership, Role, SsoRule, Team, User
from regions.choices import (
    AuthMethod,
    CapacityType,
    CentreServerStatus,
    ClusterKind,
    Provider,
    RegionStatus,
    ResidencyZone,
    WorkloadClass,
)
from regions.models import CentreServer, CloudAccount, Cluster, Namespace, NodePool, Region

PASSWORD = "correct-horse-battery-staple"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ["username"]

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda user: f"{user.username}@example.com")
    password = factory.django.Password(PASSWORD)


class TeamFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Team
        django_get_or_create = ["slug"]

    slug = factory.Sequence(lambda n: f"team-{n}")
    name = factory.LazyAttribute(lambda team: team.slug.replace("-", " ").title())


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    team = factory.SubFactory(TeamFactory)
    user = factory.SubFactory(UserFactory)


class CloudAccountFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CloudAccount

    name = factory.Sequence(lambda n: f"aws-account-{n}")
    provider = Provider.AWS
    external_id = factory.Sequence(lambda n: f"{100000000000 + n}")
    auth_method = AuthMethod.AWS_ASSUME_ROLE
    role_arn = factory.LazyAttribute(lambda account: f"arn:aws:iam::{account.external_id}:role/portal")


# AWS region codes with their zones, handed out in turn so factories never collide.
AWS_REGIONS = [
    ("eu-west-1", ResidencyZone.EU),
    ("eu-west-2", ResidencyZone.EU),
    ("eu-west-3", ResidencyZone.EU),
    ("eu-central-1", ResidencyZone.EU),
    ("eu-north-1", ResidencyZone.EU),
    ("ap-southeast-2", ResidencyZone.AU),
    ("ap-southeast-4", ResidencyZone.AU),
    ("us-east-1", ResidencyZone.US),
    ("us-east-2", ResidencyZone.US),
    ("us-west-1", ResidencyZone.US),
    ("us-west-2", ResidencyZone.US),
]


class RegionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Region
        django_get_or_create = ["provider", "code"]

    provider = Provider.AWS
    code = factory.Sequence(lambda n: AWS_REGIONS[n % len(AWS_REGIONS)][0])
    residency_zone = factory.LazyAttribute(lambda region: dict(AWS_REGIONS)[region.code])
    display_name = factory.LazyAttribute(lambda region: f"Region {region.code}")
    status = RegionStatus.ACTIVE
    account = factory.SubFactory(CloudAccountFactory)


class ClusterFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Cluster

    region = factory.SubFactory(RegionFactory)
    name = factory.Sequence(lambda n: f"cluster-{n}")
    kind = ClusterKind.EKS
    kubernetes_version = "1.31"
    api_endpoint = factory.LazyAttribute(lambda cluster: f"https://{cluster.name}.example.com")


class NodePoolFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = NodePool

    cluster = factory.SubFactory(ClusterFactory)
    name = factory.Sequence(lambda n: f"pool-{n}")
    workload_class = WorkloadClass.GENERAL
    capacity_type = CapacityType.ON_DEMAND
    instance_type = "m7i.xlarge"
    min_nodes = 1
    desired_nodes = 2
    max_nodes = 5


class NamespaceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Namespace

    cluster = factory.SubFactory(ClusterFactory)
    name = factory.Sequence(lambda n: f"namespace-{n}")
    team = factory.SubFactory(TeamFactory)


class CentreServerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CentreServer

    name = factory.Sequence(lambda n: f"centre-{n}")
    site = "Test centre"
    region = factory.SubFactory(RegionFactory)
    cluster = factory.SubFactory(ClusterFactory, region=factory.SelfAttribute("..region"), kind=ClusterKind.K3S)
    status = CentreServerStatus.ONLINE
    cpu_cores = 8
    memory_gib = 32
    storage = "1 TB SSD"


class OnPremRegionFactory(factory.django.DjangoModelFactory):
    """An on-prem site: made-up codes are fine, as on-prem sites have no catalogue of codes to match."""

    class Meta:
        model = Region

    provider = Provider.ON_PREM
    status = RegionStatus.ACTIVE
    code = factory.Sequence(lambda n: f"site-{n:03d}")
    residency_zone = ResidencyZone.EU
    display_name = factory.Sequence(lambda n: f"Learning centre {n}")
    account = None


def add_sites_with_clusters(count: int) -> None:
    """More of everything: sites paired for DR, each with a k3s cluster, node pools,
    namespaces of distinct teams and a centre server, plus more cloud accounts."""
    regions = OnPremRegionFactory.create_batch(count)
    for number, region in enumerate(regions):
        region.dr_partner = regions[number - 1]
        region.save(update_fields=["dr_partner"])
        cluster = ClusterFactory.create(region=region, kind=ClusterKind.K3S)
        NodePoolFactory.create_batch(2, cluster=cluster)
        NamespaceFactory.create_batch(2, cluster=cluster)
        CentreServerFactory.create(region=region, cluster=cluster)
    CloudAccountFactory.create_batch(count)


# --- access administration (roles, grants, SSO rules, reviews) ----------------


class RoleFactory(factory.django.DjangoModelFactory):
    """A custom role; built-in roles come from ``access.services.builtin_roles_ensure``."""

    class Meta:
        model = Role
        django_get_or_create = ["slug"]

    slug = factory.Sequence(lambda n: f"custom-role-{n}")
    name = factory.LazyAttribute(lambda role: role.slug.replace("-", " ").title())
    permissions = factory.LazyFunction(lambda: ["inventory.view"])


class GrantFactory(factory.django.DjangoModelFactory):
    """A manual grant to a user (pass ``user=None, grantee_team=...`` for a team grant)."""

    class Meta:
        model = Grant

    role = factory.SubFactory(RoleFactory)
    user = factory.SubFactory(UserFactory)
    reason = "Needed for the tests."


class SsoRuleFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SsoRule

    name = factory.Sequence(lambda n: f"Rule {n}")
    claim = "groups"
    value = factory.Sequence(lambda n: f"group-{n}")
    team = factory.SubFactory(TeamFactory)


class AccessReviewFactory(factory.django.DjangoModelFactory):
    """A campaign row only; ``access.services.access_review_open`` snapshots the grants."""

    class Meta:
        model = AccessReview

    name = factory.Sequence(lambda n: f"Review {n}")
    opened_by = factory.SubFactory(UserFactory)
    deadline = factory.LazyFunction(lambda: timezone.now() + timedelta(days=14))
