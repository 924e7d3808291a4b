"""The demo platform that `make run` ships: the spec's topology.

AWS and Azure accounts; EU, AU and US regions on both providers, each with a
DR partner in its own residency zone and an EKS or AKS cluster with general,
high-CPU and GPU node pools; two on-prem centre servers on k3s; the spec's
six namespaces everywhere; a few teams and one person per persona.

Loading is idempotent: every object is keyed on its natural key, so running
it again changes nothing and creates no duplicate. Nothing in the portal's
code depends on this topology.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.db import models, transaction
from django.utils import timezone

from access import services as access_services
from access.models import Grant, Membership, Role, SsoRule, Team, User
from access.permissions import BuiltinRole
from costs.demo import load_demo_prices
from deployments.demo import load_demo_deployments
from environments.demo import load_demo_templates
from regions import catalogue
from regions.choices import (
    AuthMethod,
    CapacityType,
    CentreServerStatus,
    ClusterKind,
    ClusterStatus,
    Provider,
    RegionStatus,
    ResidencyZone,
    WorkloadClass,
)
from regions.demo import REGION_PAIRS
from regions.models import CentreServer, CloudAccount, Cluster, Namespace, NodePool, Region
from scorecards.demo import load_demo_scorecards

# Published on purpose: demo users exist only where load_demo was allowed to run.
DEMO_PASSWORD = "portal-demo-2026"  # noqa: S105


class Persona(models.TextChoices):
    """The demo people: one per kind of user (DESIGN.md, "Who uses it"), each holding that built-in role."""

    DEVELOPER = BuiltinRole.DEVELOPER.value, "Developer"
    TEAM_LEAD = BuiltinRole.TEAM_LEAD.value, "Team lead"
    MANAGER = BuiltinRole.MANAGER.value, "Manager"
    PLATFORM_ADMIN = BuiltinRole.PLATFORM_ADMIN.value, "Platform admin"
    AUDITOR = BuiltinRole.AUDITOR.value, "Auditor"


@dataclass(frozen=True)
class DemoPerson:
    username: str
    first_name: str
    last_name: str
    persona: Persona
    team: str | None = None
    team_role: Membership.Role = Membership.Role.MEMBER

    @property
    def title(self) -> str:
        team = f", {self.team}" if self.team else ""
        return f"{self.persona.label}{team}"


# slug -> (name, description, residency zone). The zone follows the data a team's environments hold
# (spec 8.4 and 10.3): student records under the GDPR stay in the EU, tutors' data under the Australian
# Privacy Principles in AU, back-office records under FERPA in the US, analytics of student data in the
# EU. Core Platform runs the shared services of every region, so it has no constraint.
TEAMS = {
    "core-platform": ("Core Platform", "Shared services, ingress and monitoring.", ""),
    "student-experience": ("Student Experience", "Student-facing services.", ResidencyZone.EU),
    "tutor-tools": ("Tutor Tools", "Services tutors use to run classes.", ResidencyZone.AU),
    "admin-apps": ("Admin Apps", "Back-office administration.", ResidencyZone.US),
    "data-analytics": ("Data & Analytics", "Analytics pipelines and reporting.", ResidencyZone.EU),
}

PERSONAS = [
    DemoPerson("developer", "Dev", "Patel", Persona.DEVELOPER, "student-experience"),
    DemoPerson("lead", "Lena", "Okafor", Persona.TEAM_LEAD, "student-experience", Membership.Role.LEAD),
    DemoPerson("manager", "Marco", "Rossi", Persona.MANAGER),
    DemoPerson("admin", "Ada", "Nakamura", Persona.PLATFORM_ADMIN, "core-platform", Membership.Role.LEAD),
    DemoPerson("auditor", "Aud", "Jensen", Persona.AUDITOR),
    # Two more platform admins: a region request is approved by someone other than its requester (two for a
    # production region), and a failover by two admins besides the one who asked.
    DemoPerson("admin2", "Grace", "Mensah", Persona.PLATFORM_ADMIN, "core-platform"),
    DemoPerson("admin3", "Ines", "Duarte", Persona.PLATFORM_ADMIN, "core-platform"),
]


def username_of(persona: Persona) -> str:
    return next(person.username for person in PERSONAS if person.persona == persona)


# Namespace (spec 4.1) -> owning team.
NAMESPACES = {
    "core-services": "core-platform",
    "student-services": "student-experience",
    "tutor-services": "tutor-tools",
    "admin-services": "admin-apps",
    "analytics": "data-analytics",
    "monitoring": "core-platform",
}

AWS_ACCOUNT = "111122223333"
AZURE_SUBSCRIPTION = "3f2b6a1e-8c4d-4e5f-9a0b-1c2d3e4f5a6b"


NODE_POOLS = {
    Provider.AWS: [
        ("general", WorkloadClass.GENERAL, CapacityType.ON_DEMAND, "m7i.xlarge", 3, 3, 12),
        ("high-cpu", WorkloadClass.HIGH_CPU, CapacityType.SPOT, "c7i.2xlarge", 0, 2, 10),
        ("gpu", WorkloadClass.GPU, CapacityType.ON_DEMAND, "g5.xlarge", 0, 0, 4),
    ],
    Provider.AZURE: [
        ("general", WorkloadClass.GENERAL, CapacityType.ON_DEMAND, "Standard_D4s_v5", 3, 3, 12),
        ("highcpu", WorkloadClass.HIGH_CPU, CapacityType.SPOT, "Standard_F8s_v2", 0, 2, 10),
        ("gpu", WorkloadClass.GPU, CapacityType.ON_DEMAND, "Standard_NC4as_T4_v3", 0, 0, 4),
    ],
}

CENTRE_SERVERS = [
    # name, site, home region, status, cpu, memory GiB, minutes since last sync
    ("centre-sydney-01", "Sydney learning centre", "ap-southeast-2", CentreServerStatus.ONLINE, 16, 64, 4),
    ("centre-dublin-01", "Dublin learning centre", "eu-west-1", CentreServerStatus.OFFLINE, 8, 32, 26 * 60),
]


@transaction.atomic
def load_demo() -> None:
    access_services.builtin_roles_ensure()
    teams = {
        slug: Team.objects.update_or_create(
            slug=slug, defaults={"name": name, "description": description, "residency_zone": zone}
        )[0]
        for slug, (name, description, zone) in TEAMS.items()
    }
    _load_people(teams)
    _load_sso_rules(teams)
    accounts = {
        Provider.AWS: CloudAccount.objects.update_or_create(
            provider=Provider.AWS,
            external_id=AWS_ACCOUNT,
            defaults={
                "name": "aws-platform-prod",
                "auth_method": AuthMethod.AWS_ASSUME_ROLE,
                "role_arn": f"arn:aws:iam::{AWS_ACCOUNT}:role/platform-portal",
                "description": "Production AWS account of the learning platform.",
            },
        )[0],
        Provider.AZURE: CloudAccount.objects.update_or_create(
            provider=Provider.AZURE,
            external_id=AZURE_SUBSCRIPTION,
            defaults={
                "name": "azure-platform-prod",
                "auth_method": AuthMethod.AZURE_WORKLOAD_IDENTITY,
                "tenant_id": "9d8c7b6a-5f4e-4d3c-8b2a-1f0e9d8c7b6a",
                "client_id": "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
                "description": "Production Azure subscription of the learning platform.",
            },
        )[0],
    }
    regions: dict[str, Region] = {}
    for provider, primary, partner in REGION_PAIRS:
        for code in (primary, partner):
            regions[code] = _region(provider, code, accounts[provider])
        _pair(regions[primary], regions[partner])
    for region in regions.values():
        cluster = _cluster(region)
        for name, workload_class, capacity, instance_type, minimum, desired, maximum in NODE_POOLS[
            Provider(region.provider)
        ]:
            NodePool.objects.update_or_create(
                cluster=cluster,
                name=name,
                defaults={
                    "workload_class": workload_class,
                    "capacity_type": capacity,
                    "instance_type": instance_type,
                    "min_nodes": minimum,
                    "desired_nodes": desired,
                    "max_nodes": maximum,
                },
            )
        _namespaces(cluster, teams)
    now = timezone.now()
    for name, site, region_code, status, cpu, memory, minutes in CENTRE_SERVERS:
        region = regions[region_code]
        cluster, _ = Cluster.objects.update_or_create(
            region=region,
            name=f"k3s-{name}",
            defaults={
                "kind": ClusterKind.K3S,
                "kubernetes_version": "1.31",
                "api_endpoint": f"https://{name}.centres.internal:6443",
                "status": ClusterStatus.READY if status == CentreServerStatus.ONLINE else ClusterStatus.UNREACHABLE,
            },
        )
        if not cluster.has_kubeconfig:  # keep one an admin gave
            cluster.set_kubeconfig(demo_kubeconfig(cluster))
        _namespaces(cluster, teams)
        CentreServer.objects.update_or_create(
            name=name,
            defaults={
                "site": site,
                "region": region,
                "cluster": cluster,
                "status": status,
                "last_sync_at": now - timedelta(minutes=minutes),
                "cpu_cores": cpu,
                "memory_gib": memory,
                "storage": "2 TB NVMe SSD",
                "redundant_nics": True,
            },
        )
    load_demo_prices()
    load_demo_templates()
    load_demo_deployments()
    load_demo_scorecards()


def _load_people(teams: dict[str, Team]) -> None:
    """Demo people, with the grants their persona implies: team roles are limited to their team.

    Every team's members may work as developers on that team's objects; the
    lead approves for their team only; the manager, auditor and admin hold
    their roles everywhere. The admin is not a superuser: the policy, not a
    flag, gives them everything.
    """
    developer = Role.objects.get(slug=BuiltinRole.DEVELOPER)
    for team in teams.values():
        _demo_grant(developer, grantee_team=team, team=team, reason=f"Members of {team} develop on its services.")
    for person in PERSONAS:
        user, created = User.objects.update_or_create(
            username=person.username,
            defaults={
                "first_name": person.first_name,
                "last_name": person.last_name,
                "email": f"{person.username}@example.com",
            },
        )
        if created:
            user.set_password(DEMO_PASSWORD)
            user.save(update_fields=["password"])
        home = teams[person.team] if person.team else None
        if home is not None:
            Membership.objects.update_or_create(team=home, user=user, defaults={"role": person.team_role})
        if person.persona != Persona.DEVELOPER:
            role = Role.objects.get(slug=person.persona.value)
            limit = home if person.persona == Persona.TEAM_LEAD else None
            _demo_grant(role, user=user, team=limit, reason=f"Demo {person.persona.label.lower()}.")


# SSO mapping rules a real installation would start from: IdP group -> team (and role).
SSO_RULES = [
    # name, claim value (IdP group), team, membership role, role, limited to the team
    ("Platform engineers", "platform-engineers", "core-platform", Membership.Role.MEMBER, BuiltinRole.PLATFORM_ADMIN),
    ("Student Experience developers", "eng-student-experience", "student-experience", Membership.Role.MEMBER, None),
    (
        "Student Experience leads",
        "lead-student-experience",
        "student-experience",
        Membership.Role.LEAD,
        BuiltinRole.TEAM_LEAD,
    ),
    ("Tutor Tools developers", "eng-tutor-tools", "tutor-tools", Membership.Role.MEMBER, None),
    ("Finance", "finance", None, Membership.Role.MEMBER, BuiltinRole.MANAGER),
    ("Internal audit", "internal-audit", None, Membership.Role.MEMBER, BuiltinRole.AUDITOR),
]


def _load_sso_rules(teams: dict[str, Team]) -> None:
    """Rules keyed on their name; members of a team become developers on it through the team's grant."""
    for name, group, team_slug, membership_role, role_slug in SSO_RULES:
        team = teams[team_slug] if team_slug else None
        role = Role.objects.get(slug=role_slug) if role_slug else None
        limited_to = team if role_slug == BuiltinRole.TEAM_LEAD else None
        SsoRule.objects.update_or_create(
            name=name,
            defaults={
                "claim": "groups",
                "value": group,
                "team": team,
                "membership_role": membership_role,
                "role": role,
                "scope_team": limited_to,
            },
        )


def _demo_grant(
    role: Role, *, reason: str, user: User | None = None, grantee_team: Team | None = None, team: Team | None = None
) -> None:
    held = Grant.objects.active().filter(role=role, user=user, grantee_team=grantee_team, team=team)
    if not held.exists():
        access_services.grant_create(
            actor=None, role=role, user=user, grantee_team=grantee_team, team=team, reason=reason
        )


def _region(provider: Provider, code: str, account: CloudAccount) -> Region:
    display_name, zone = catalogue.KNOWN_REGIONS[provider][code]
    region, _ = Region.objects.update_or_create(
        provider=provider,
        code=code,
        defaults={
            "display_name": display_name,
            "residency_zone": zone,
            "status": RegionStatus.ACTIVE,
            "account": account,
        },
    )
    return region


def _pair(primary: Region, partner: Region) -> None:
    for region, other in ((primary, partner), (partner, primary)):
        if region.dr_partner_id != other.pk:
            region.dr_partner = other
            region.save(update_fields=["dr_partner"])


def _cluster(region: Region) -> Cluster:
    if region.provider == Provider.AWS:
        kind, name = ClusterKind.EKS, f"eks-{region.code}"
        endpoint = f"https://{region.code}.eks.platform.example.com"
    else:
        kind, name = ClusterKind.AKS, f"aks-{region.code}"
        endpoint = f"https://aks-{region.code}.hcp.{region.code}.azmk8s.io:443"
    cluster, _ = Cluster.objects.update_or_create(
        region=region,
        name=name,
        defaults={"kind": kind, "kubernetes_version": "1.31", "api_endpoint": endpoint, "status": ClusterStatus.READY},
    )
    return cluster


def demo_kubeconfig(cluster: Cluster) -> str:
    """A kubeconfig of the shape k3s writes, for a demo centre server: it opens nothing.

    The demo runs on the sandbox, which never reads it; it is there so the
    demo's k3s clusters are valid (kubeconfig access needs one) and the admin
    shows what a configured cluster looks like.
    """
    return (
        "apiVersion: v1\n"
        "kind: Config\n"
        f"clusters:\n- name: {cluster.name}\n  cluster:\n    server: {cluster.api_endpoint}\n"
        f"users:\n- name: {cluster.name}-admin\n  user:\n    token: demo-only-opens-nothing\n"
        f"contexts:\n- name: {cluster.name}\n  context:\n    cluster: {cluster.name}\n    user: {cluster.name}-admin\n"
        f"current-context: {cluster.name}\n"
    )


def _namespaces(cluster: Cluster, teams: dict[str, Team]) -> None:
    for name, team_slug in NAMESPACES.items():
        Namespace.objects.update_or_create(
            cluster=cluster,
            name=name,
            defaults={
                "team": teams[team_slug],
                "labels": {"portal.io/namespace-group": name, "portal.io/team": team_slug},
            },
        )
