"""factory_boy factories for every model; later issues add theirs here."""

from __future__ import annotations

import base64
from datetime import timedelta

import factory
from django.utils import timezone

from access.models import AccessReview, ApiToken, AuditEvent, Grant, Membership, Role, SsoRule, Team, User
from access.tokens.services import api_token_hash
from deployments.models import Service, Workload
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


def make_user(**fields: object) -> User:
    """A saved user, typed as one (factory_boy's call returns an untyped factory instance)."""
    return User.objects.get(pk=UserFactory(**fields).pk)  # type: ignore[attr-defined]


def make_sso_rule(**fields: object) -> SsoRule:
    """A saved SSO rule whose members join a team and hold the developer role on its objects, typed as one."""
    team = fields.pop("team", None) or TeamFactory()
    defaults: dict[str, object] = {"team": team, "role": Role.objects.get(slug="developer"), "scope_team": team}
    return SsoRule.objects.get(pk=SsoRuleFactory(**{**defaults, **fields}).pk)  # type: ignore[attr-defined]


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


class AzureClientSecretAccountFactory(CloudAccountFactory):
    """An Azure subscription reached with a client secret the portal stores (encrypted)."""

    name = factory.Sequence(lambda n: f"azure-subscription-{n}")
    provider = Provider.AZURE
    external_id = factory.Sequence(lambda n: f"00000000-0000-4000-8000-{n:012d}")
    tenant_id = "11111111-1111-4111-8111-111111111111"
    client_id = "22222222-2222-4222-8222-222222222222"
    auth_method = AuthMethod.AZURE_CLIENT_SECRET
    role_arn = ""  # type: ignore[assignment]
    client_secret = "az-client-secret-value~0123456789"


# AWS region codes with their zones, handed out in turn so factories never collide.
AWS_REGIONS = [
    ("eu-west-1", ResidencyZone.EU),
    ("eu-south-2", ResidencyZone.EU),
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


def kubeconfig_for(
    server: str,
    *,
    token: str = "factory-token-opens-nothing",  # noqa: S107
    name: str = "k3s",
    ca_pem: bytes = b"",
) -> str:
    """A kubeconfig of the shape k3s writes: one cluster at ``server`` (with its CA, if given), one user's token."""
    authority = f"    certificate-authority-data: {base64.b64encode(ca_pem).decode()}\n" if ca_pem else ""
    return (
        f"apiVersion: v1\nkind: Config\n"
        f"clusters:\n- name: {name}\n  cluster:\n    server: {server}\n{authority}"
        f"users:\n- name: {name}-admin\n  user:\n    token: {token}\n"
        f"contexts:\n- name: {name}\n  context:\n    cluster: {name}\n    user: {name}-admin\n"
        f"current-context: {name}\n"
    )


class ClusterFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Cluster

    region = factory.SubFactory(RegionFactory)
    name = factory.Sequence(lambda n: f"cluster-{n}")
    kind = ClusterKind.EKS
    kubernetes_version = "1.31"
    api_endpoint = factory.LazyAttribute(lambda cluster: f"https://{cluster.name}.example.com")
    # k3s is reached by kubeconfig, so a k3s cluster comes with one (that opens nothing).
    kubeconfig = factory.LazyAttribute(
        lambda cluster: kubeconfig_for(cluster.api_endpoint) if cluster.kind == ClusterKind.K3S else ""
    )


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
    reason = "Needed for the test."


class SsoRuleFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SsoRule

    name = factory.Sequence(lambda n: f"SSO rule {n}")
    claim = "groups"
    value = factory.Sequence(lambda n: f"group-{n}")


def audit_events(count: int, verb: str = "teams.team_changed", **fields: object) -> list[AuditEvent]:
    """``count`` events appended to the real chain through :func:`access.audit.services.record`, oldest first.

    ``fields`` are passed to ``record`` (e.g. ``actor=``, ``team=``, ``before=``, ``object_repr=``).
    """
    from access.audit import services as audit

    return [audit.record(verb, **fields) for _ in range(count)]  # type: ignore[arg-type]


class ApiTokenFactory(factory.django.DjangoModelFactory):
    """A token row with a known secret: ``factory.secret`` is what a caller sends as the Bearer token."""

    class Meta:
        model = ApiToken
        exclude = ["secret"]

    name = factory.Sequence(lambda n: f"token {n}")
    owner = factory.SubFactory(UserFactory)
    team = factory.SubFactory(TeamFactory)
    role = factory.LazyFunction(lambda: Role.objects.get(slug="developer"))
    prefix = factory.Sequence(lambda n: f"{n:08x}")
    secret = factory.LazyAttribute(lambda token: f"ppt_{token.prefix}_{'s' * 43}")
    secret_hash = factory.LazyAttribute(lambda token: api_token_hash(token.secret))
    expires_at = factory.LazyFunction(lambda: timezone.now() + timedelta(days=30))


def api_token_secret(token: ApiToken) -> str:
    """The secret of a token made by :class:`ApiTokenFactory`."""
    return f"ppt_{token.prefix}_{'s' * 43}"


class AccessReviewFactory(factory.django.DjangoModelFactory):
    """A campaign row only; ``access.services.access_review_open`` snapshots the grants."""

    class Meta:
        model = AccessReview

    name = factory.Sequence(lambda n: f"Review {n}")
    opened_by = factory.SubFactory(UserFactory)
    deadline = factory.LazyFunction(lambda: timezone.now() + timedelta(days=14))


class ServiceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Service

    slug = factory.Sequence(lambda n: f"service-{n}")
    name = factory.LazyAttribute(lambda service: service.slug.replace("-", " ").title())
    team = factory.SubFactory(TeamFactory)
    repository_url = factory.LazyAttribute(lambda service: f"https://github.com/example/{service.slug}")
    namespace_group = "core-services"


class WorkloadFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Workload

    cluster = factory.SubFactory(ClusterFactory)
    namespace = "core-services"
    kind = "Deployment"
    name = factory.Sequence(lambda n: f"workload-{n}")
    images = factory.LazyAttribute(lambda workload: [f"registry.example.com/{workload.name}:1.0.0"])
    version = "1.0.0"
    replicas_desired = 2
    replicas_ready = 2
    health = "healthy"
    first_seen_at = factory.LazyFunction(timezone.now)
    last_seen_at = factory.LazyFunction(timezone.now)


def make_service(**fields: object) -> Service:
    """A saved catalogue service, typed as one."""
    return Service.objects.get(pk=ServiceFactory(**fields).pk)  # type: ignore[attr-defined]


def make_workload(**fields: object) -> Workload:
    """A saved workload, typed as one."""
    return Workload.objects.get(pk=WorkloadFactory(**fields).pk)  # type: ignore[attr-defined]
