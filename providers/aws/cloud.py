"""The AWS cloud driver: VPC, EKS, RDS, ElastiCache, S3, KMS and Cost Explorer through boto3.

Every ensure looks before it creates: VPC parts by their ``portal:name`` tag
(tags are set in the create call itself, so nothing exists untagged), EKS,
RDS, ElastiCache and S3 by their deterministic names, KMS keys by alias and
then by tag (a crash between ``CreateKey`` and ``CreateAlias`` leaves a tagged
key that the re-run adopts). Where the API takes an idempotency token (EC2
``ClientToken``, EKS ``clientRequestToken``) it is derived from the spec.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import hashlib
import json
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from functools import partial
from typing import IO, Any

import boto3
import yaml
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from botocore.parsers import ResponseParserError

from providers import errors, names
from providers.access import AccessCheck
from providers.aws.errors import is_already_exists, translate
from providers.cloud import (
    AwsCredentials,
    BucketInfo,
    BucketSpec,
    CacheInfo,
    CacheSpec,
    CostLineItem,
    CostReport,
    DatabaseInfo,
    DatabaseSpec,
    KeyInfo,
    KeySpec,
    KubernetesClusterInfo,
    KubernetesClusterSpec,
    KubernetesVersionInfo,
    NetworkInfo,
    NetworkSpec,
    NodePoolInfo,
    NodePoolSpec,
    ObjectInfo,
    Placement,
    ReplicaInfo,
    RoleInfo,
    RoleSpec,
    SubnetInfo,
    Tags,
    newest_first,
)
from providers.retry import RetryPolicy, call_with_retries

DEFAULT_RETRIES = RetryPolicy()
NAME_TAG = "portal:name"
TIER_TAG = "portal:tier"
ALIAS_TAG = "portal:key-alias"
ZONE_TAG = "portal:zone-id"
# What the AWS Load Balancer Controller and the in-tree service controller look for to place load balancers.
SUBNET_ROLE_TAGS = {
    "public": {"kubernetes.io/role/elb": "1"},
    "private": {"kubernetes.io/role/internal-elb": "1"},
}
# Set on a replica the portal promoted: RDS may report the replica's source for a while after promotion.
PROMOTED_TAG = "portal:promoted-at"
# Refresh assumed-role credentials this long before they expire.
REFRESH_MARGIN = timedelta(minutes=5)
# An EKS token is a presigned URL valid for 15 minutes; hand it out for a little less.
TOKEN_LIFETIME = timedelta(minutes=14)
COST_METRIC = "UnblendedCost"
# The amortised figure (commitment purchases spread over the usage they cover): FOCUS EffectiveCost.
EFFECTIVE_METRIC = "AmortizedCost"
POOL_KIND_LABEL = "portal/pool-kind"
# GPU nodes run the NVIDIA image and repel pods that do not tolerate the GPU taint.
GPU_POOL: dict[str, Any] = {
    "amiType": "AL2023_x86_64_NVIDIA",
    "taints": [{"key": "nvidia.com/gpu", "value": "true", "effect": "NO_SCHEDULE"}],
}
PURPOSE_TAG = "portal:role-purpose"
# The service each kind of role is assumed by, as the EKS user guide ("Amazon EKS cluster IAM role", "Amazon
# EKS node IAM role") and the S3 user guide ("Setting up permissions for live replication") give its trust policy.
ROLE_SERVICES = {
    "kubernetes_control_plane": "eks.amazonaws.com",
    "kubernetes_nodes": "ec2.amazonaws.com",
    "bucket_replication": "s3.amazonaws.com",
}
# The AWS managed policies EKS documents for each role: "Before you can create Amazon EKS clusters, you must
# create an IAM role with ... AmazonEKSClusterPolicy"; the node role needs AmazonEKSWorkerNodePolicy and
# AmazonEC2ContainerRegistryReadOnly, and AmazonEKS_CNI_Policy unless the VPC CNI has a role of its own.
ROLE_MANAGED_POLICIES: dict[str, tuple[str, ...]] = {
    "kubernetes_control_plane": ("AmazonEKSClusterPolicy",),
    "kubernetes_nodes": ("AmazonEKSWorkerNodePolicy", "AmazonEKS_CNI_Policy", "AmazonEC2ContainerRegistryReadOnly"),
    "bucket_replication": (),
}
REPLICATION_POLICY = "portal-bucket-replication"
# What a key administrator may do, as in the KMS default key policy for key administrators (no use of the key).
KEY_ADMINISTRATION = [
    "kms:Create*",
    "kms:Describe*",
    "kms:Enable*",
    "kms:List*",
    "kms:Put*",
    "kms:Update*",
    "kms:Revoke*",
    "kms:Disable*",
    "kms:Get*",
    "kms:Delete*",
    "kms:TagResource",
    "kms:UntagResource",
    "kms:ScheduleKeyDeletion",
    "kms:CancelKeyDeletion",
]
KEY_USE = ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"]
# The services that encrypt the portal's data with its keys: RDS storage, S3 objects, EKS secrets.
KEY_SERVICES = ("rds", "s3", "eks")


POSTGRES_PORT = 5432
REDIS_PORT = 6379
# Set on a data service's security group: the database or cache it admits traffic to.
DATA_SERVICE_TAG = "portal:data-service"


def subnet_group_name(service: str) -> str:
    """The RDS or ElastiCache subnet group of a data service (ElastiCache allows letters, digits and hyphens)."""
    return f"{service}-subnets"


def access_group_name(service: str) -> str:
    """The security group admitting the network to a data service's port."""
    return f"{service}-access"


# The VPC CNI enforces Kubernetes NetworkPolicies from 1.14 on, and only when told to.
NETWORK_POLICY_ADDON = "vpc-cni"
NETWORK_POLICY_CONFIGURATION = {"enableNetworkPolicy": "true"}
MIN_NETWORK_POLICY_CNI = (1, 14)


def _addon_version(version: str) -> tuple[int, ...]:
    """``v1.18.3-eksbuild.1`` as (1, 18, 3); an unreadable version as ()."""
    numbers = version.lstrip("v").split("-")[0].split(".")
    try:
        return tuple(int(number) for number in numbers)
    except ValueError:
        return ()


def _configuration(values: str) -> dict[str, Any]:
    """An add-on's configuration values (JSON, or YAML, which EKS also takes) as a dict."""
    if not values.strip():
        return {}
    try:
        parsed = json.loads(values)
    except ValueError:
        try:
            parsed = yaml.safe_load(values)
        except yaml.YAMLError:
            return {}
    return dict(parsed) if isinstance(parsed, dict) else {}


def _now() -> datetime:
    return datetime.now(tz=UTC)


def idempotency_token(*parts: str) -> str:
    """A stable token for one create call, derived from what identifies it (64 characters, EC2's limit)."""
    return hashlib.sha256("/".join(parts).encode()).hexdigest()[:64]


def _tag_list(tags: dict[str, str]) -> list[dict[str, str]]:
    return [{"Key": key, "Value": value} for key, value in sorted(tags.items())]


def _tag_dict(tags: list[dict[str, str]] | None) -> dict[str, str]:
    return {tag["Key"]: tag["Value"] for tag in tags or []}


class AssumedRoleSessions:
    """boto3 sessions for one account through STS ``AssumeRole``, cached until shortly before they expire."""

    def __init__(
        self,
        credentials: AwsCredentials,
        *,
        base_session: boto3.Session | None = None,
        endpoint_url: str | None = None,
        clock: Callable[[], datetime] = _now,
    ) -> None:
        self.credentials = credentials
        self.base_session = base_session or boto3.Session()
        self.endpoint_url = endpoint_url
        self.clock = clock
        self._session: boto3.Session | None = None
        self._expires_at = datetime.min.replace(tzinfo=UTC)
        self._lock = threading.Lock()

    def session(self) -> tuple[boto3.Session, bool]:
        """The current session, and whether it was just (re)created."""
        with self._lock:
            if self._session is not None and self.clock() < self._expires_at - REFRESH_MARGIN:
                return self._session, False
            sts = self.base_session.client(
                "sts", region_name=self.credentials.region, endpoint_url=self.endpoint_url, config=client_config()
            )
            request = {"RoleArn": self.credentials.role_arn, "RoleSessionName": self.credentials.session_name}
            if self.credentials.external_id:
                # STS takes an ExternalId of 2 to 1224 characters or none at all: botocore refuses "" before
                # sending it, so a role whose trust policy asks for no external id is assumed without one.
                request["ExternalId"] = self.credentials.external_id
            try:
                answer = sts.assume_role(**request)
            except (ClientError, BotoCoreError) as error:
                raise translate(error, self.credentials.role_arn) from error
            issued = answer["Credentials"]
            self._session = boto3.Session(
                aws_access_key_id=issued["AccessKeyId"],
                aws_secret_access_key=issued["SecretAccessKey"],
                aws_session_token=issued["SessionToken"],
                region_name=self.credentials.region,
            )
            expiration = issued["Expiration"]
            self._expires_at = expiration if expiration.tzinfo else expiration.replace(tzinfo=UTC)
            return self._session, True


def client_config() -> Config:
    """botocore's ``standard`` retry mode (bounded, with jitter) under the portal's own retries."""
    return Config(retries={"mode": "standard", "max_attempts": 3})


_PROMOTED = "{replica} in {region} was promoted to a standalone database; delete it before asking for a new replica"


class AwsCloudDriver:
    """A :class:`~providers.cloud.CloudDriver` for one AWS account and home region.

    ``endpoint_url`` points every client at another endpoint (moto in tests).
    ``retry_policy`` and ``sleep`` bound the portal's retries of throttling and
    transient faults on top of botocore's own.
    """

    def __init__(
        self,
        credentials: AwsCredentials,
        *,
        base_session: boto3.Session | None = None,
        endpoint_url: str | None = None,
        retry_policy: RetryPolicy = DEFAULT_RETRIES,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], datetime] = _now,
    ) -> None:
        self.credentials = credentials
        self.region = credentials.region
        self.account = credentials.role_arn.split(":")[4] if credentials.role_arn.count(":") >= 5 else ""
        self.endpoint_url = endpoint_url
        self.retry_policy = retry_policy
        self.sleep = sleep
        self.clock = clock
        self.sessions = AssumedRoleSessions(
            credentials, base_session=base_session, endpoint_url=endpoint_url, clock=clock
        )
        self._clients: dict[tuple[str, str], Any] = {}
        self._hooks: list[tuple[str, Callable[..., Any]]] = []

    # ------------------------------------------------------------ plumbing

    def on(self, event_name: str, handler: Callable[..., Any]) -> None:
        """Register a botocore event handler on every client, present and future (tests inject faults so)."""
        self._hooks.append((event_name, handler))
        for client in self._clients.values():
            client.meta.events.register(event_name, handler)

    def client(self, service: str, region: str | None = None) -> Any:
        """A boto3 client for ``service`` in ``region`` (the home region by default) with fresh credentials."""
        session, renewed = self.sessions.session()
        if renewed:
            self._clients.clear()
        key = (service, region or self.region)
        if key not in self._clients:
            client = session.client(service, region_name=key[1], endpoint_url=self.endpoint_url, config=client_config())
            for event_name, handler in self._hooks:
                client.meta.events.register(event_name, handler)
            self._clients[key] = client
        return self._clients[key]

    def _call(
        self,
        service: str,
        operation: str,
        *,
        region: str | None = None,
        resource: str = "",
        exists_ok: bool = False,
        once: bool = False,
        **params: Any,
    ) -> Any:
        """Call one API operation with retries, translating errors; ``exists_ok`` turns "already exists" into None.

        ``once``: a single try, for a create the caller retries itself (:meth:`_create_looking_again`).
        """

        def attempt() -> Any:
            try:
                return getattr(self.client(service, region), operation)(**params)
            except ClientError as error:
                if exists_ok and is_already_exists(error):
                    return None
                raise translate(error, resource, service) from error
            except BotoCoreError as error:
                raise translate(error, resource, service) from error
            except ResponseParserError as error:
                # An unparseable answer is a server fault (an HTML 500 page), worth another try.
                raise errors.Unavailable(str(error), resource=resource) from error

        return call_with_retries(attempt, RetryPolicy(attempts=1) if once else self.retry_policy, self.sleep)

    def _create_looking_again(self, find: Callable[[], Any], create: Callable[[], Any]) -> Any:
        """``create()`` (one try), and before sending it again after a retryable failure, ``find()`` what the
        failed try may have made.

        A create whose answer was lost (a timeout, a 5xx, a reset connection) may still have made the resource.
        CreateVpc, CreateSubnet, CreateInternetGateway, AllocateAddress and KMS CreateKey take no idempotency
        token, so sending one again would make a second resource (or, for a subnet, be refused as a CIDR
        conflict). EC2 describes are eventually consistent, so this narrows the window rather than closing it.
        """
        tries = 0

        def attempt() -> Any:
            nonlocal tries
            tries += 1
            if tries > 1:
                found = find()
                if found is not None:
                    return found
            return create()

        return call_with_retries(attempt, self.retry_policy, self.sleep)

    def _pages(self, service: str, operation: str, key: str, *, region: str | None = None, **params: Any) -> list[Any]:
        """Every item under ``key`` across the operation's pages.

        A failed page ends botocore's page iterator, so a retry starts the
        listing again rather than resuming it (which would return a silent
        partial list).
        """

        def collect() -> list[Any]:
            paginator = self.client(service, region).get_paginator(operation)
            try:
                return [item for page in paginator.paginate(**params) for item in page.get(key, [])]
            except ClientError as error:
                raise translate(error, service=service) from error
            except BotoCoreError as error:
                raise translate(error, service=service) from error

        return call_with_retries(collect, self.retry_policy, self.sleep)

    def check_access(self) -> AccessCheck:
        """The permissions pre-flight of the assumed role (:mod:`providers.aws.access`)."""
        from providers.aws.access import check_access

        return check_access(self)

    # ------------------------------------------------------------ network

    def _vpc(self, name: str) -> dict[str, Any] | None:
        vpcs = self._call("ec2", "describe_vpcs", Filters=[{"Name": f"tag:{NAME_TAG}", "Values": [name]}])["Vpcs"]
        return vpcs[0] if vpcs else None

    def _tagged(self, resource_type: str, tags: dict[str, str]) -> list[dict[str, Any]]:
        return [{"ResourceType": resource_type, "Tags": _tag_list(tags)}]

    def ensure_network(self, spec: NetworkSpec) -> NetworkInfo:
        """Create the VPC, subnets, internet gateway, NAT gateways and route tables that are missing.

        The VPC gets DNS support and DNS hostnames (EKS: "The VPC must have DNS
        hostname and DNS resolution support. Otherwise, nodes can't register to
        your cluster"). Subnets are made by zone id in zones the account offers
        (zone names map to different physical zones in each account), and carry
        the load balancer role tags (``kubernetes.io/role/elb`` on public,
        ``kubernetes.io/role/internal-elb`` on private subnets). Each zone gets
        its own NAT gateway in its public subnet and a private route table
        through it, so one zone's outage does not cut the others off.
        """
        tags = {**spec.tags, NAME_TAG: spec.name, "Name": spec.name}
        vpc = self._vpc(spec.name)
        if vpc is None:
            vpc = self._create_looking_again(
                lambda: self._vpc(spec.name),
                lambda: self._call(
                    "ec2", "create_vpc", once=True, CidrBlock=spec.cidr, TagSpecifications=self._tagged("vpc", tags)
                )["Vpc"],
            )
        vpc_id = vpc["VpcId"]
        self._ensure_vpc_dns(vpc_id)
        in_vpc = [{"Name": "vpc-id", "Values": [vpc_id]}]
        existing = {
            subnet["CidrBlock"]: subnet for subnet in self._call("ec2", "describe_subnets", Filters=in_vpc)["Subnets"]
        }
        zone_ids = self._network_zones(spec, existing)
        public: dict[str, str] = {}  # zone id -> subnet id
        private: dict[str, str] = {}
        for tier, cidrs, by_zone in (
            ("public", spec.public_subnet_cidrs, public),
            ("private", spec.private_subnet_cidrs, private),
        ):
            for cidr, zone_id in zip(cidrs, zone_ids, strict=False):
                subnet = existing.get(cidr)
                role = SUBNET_ROLE_TAGS[tier]
                if subnet is None:
                    subnet_tags = {
                        **tags,
                        "Name": f"{spec.name}-{tier}-{zone_id}",
                        TIER_TAG: tier,
                        ZONE_TAG: zone_id,
                        **role,
                    }
                    subnet = self._create_looking_again(
                        partial(self._subnet_with, vpc_id, cidr),
                        partial(self._create_subnet, vpc_id, cidr, zone_id, subnet_tags),
                    )
                elif any(_tag_dict(subnet.get("Tags")).get(key) != value for key, value in role.items()):
                    self._call("ec2", "create_tags", Resources=[subnet["SubnetId"]], Tags=_tag_list(role))
                by_zone[zone_id] = subnet["SubnetId"]

        if spec.public_subnet_cidrs:  # a network of private subnets only (the DR partner's) has no way out
            gateway_id = self._ensure_internet_gateway(spec.name, vpc_id, tags)
            self._ensure_route_table(
                spec.name, vpc_id, "public", list(public.values()), {"GatewayId": gateway_id}, tags
            )
        for zone_id, subnet_id in private.items():
            nat_id = (
                self._ensure_nat_gateway(spec, vpc_id, zone_id, public[zone_id], tags)
                if spec.nat_gateway and zone_id in public
                else None
            )
            target = {"NatGatewayId": nat_id} if nat_id else None
            self._ensure_route_table(spec.name, vpc_id, "private", [subnet_id], target, tags, zone_id=zone_id)
        return self.describe_network(spec.name)

    def _ensure_vpc_dns(self, vpc_id: str) -> None:
        """Turn on DNS support, then DNS hostnames (``ModifyVpcAttribute`` takes one attribute per call)."""
        for attribute, parameter in (
            ("enableDnsSupport", "EnableDnsSupport"),
            ("enableDnsHostnames", "EnableDnsHostnames"),
        ):
            answer = self._call("ec2", "describe_vpc_attribute", VpcId=vpc_id, Attribute=attribute)
            if not answer.get(parameter, {}).get("Value"):
                change: dict[str, Any] = {parameter: {"Value": True}}
                self._call("ec2", "modify_vpc_attribute", VpcId=vpc_id, **change)

    def _offered_zones(self) -> list[dict[str, Any]]:
        """The availability zones this account may use in the region, by zone id: available, ordinary
        availability zones (not Local or Wavelength Zones) that need no opt-in."""
        zones = self._call(
            "ec2",
            "describe_availability_zones",
            Filters=[
                {"Name": "state", "Values": ["available"]},
                {"Name": "zone-type", "Values": ["availability-zone"]},
                {"Name": "opt-in-status", "Values": ["opt-in-not-required"]},
            ],
        )["AvailabilityZones"]
        usable = [
            zone
            for zone in zones
            if zone.get("State", "available") == "available"
            and zone.get("ZoneType", "availability-zone") == "availability-zone"
            and zone.get("OptInStatus", "opt-in-not-required") == "opt-in-not-required"
        ]
        return sorted(usable, key=lambda zone: str(zone["ZoneId"]))

    def _network_zones(self, spec: NetworkSpec, existing: dict[str, dict[str, Any]]) -> list[str]:
        """The zone id of each subnet pair: where it already stands, else as the spec pins it, else chosen."""
        pairs = max(len(spec.public_subnet_cidrs), len(spec.private_subnet_cidrs))
        count = spec.zone_count or len(spec.zone_ids) or len(spec.availability_zones) or pairs
        offered = self._offered_zones()
        by_name = {str(zone["ZoneName"]): str(zone["ZoneId"]) for zone in offered}
        offered_ids = [str(zone["ZoneId"]) for zone in offered]
        pinned: list[str] = list(spec.zone_ids)
        if not pinned and spec.availability_zones:
            unknown = [name for name in spec.availability_zones if name not in by_name]
            if unknown:
                raise errors.InvalidRequest(
                    f"{', '.join(unknown)} is not an availability zone this account can use in {self.region}",
                    resource=spec.name,
                )
            pinned = [by_name[name] for name in spec.availability_zones]
        unknown = [zone_id for zone_id in pinned if zone_id not in offered_ids]
        if unknown:
            raise errors.InvalidRequest(
                f"{', '.join(unknown)} is not an availability zone this account can use in {self.region}",
                resource=spec.name,
            )
        chosen: list[str | None] = [None] * count
        for index in range(count):
            for cidrs in (spec.public_subnet_cidrs, spec.private_subnet_cidrs):
                subnet = existing.get(cidrs[index]) if index < len(cidrs) else None
                if subnet is not None and subnet.get("AvailabilityZoneId"):
                    chosen[index] = str(subnet["AvailabilityZoneId"])
            if chosen[index] is None and index < len(pinned):
                chosen[index] = pinned[index]
        spare = iter(zone_id for zone_id in offered_ids if zone_id not in chosen)
        zones = [zone_id or next(spare, None) for zone_id in chosen]
        if None in zones or len(set(zones)) < len(zones):
            raise errors.InvalidRequest(
                f"{self.region} offers {len(offered_ids)} availability zones to this account; "
                f"the network needs {count} distinct ones",
                resource=spec.name,
            )
        return [str(zone_id) for zone_id in zones]

    def _create_subnet(self, vpc_id: str, cidr: str, zone_id: str, tags: dict[str, str]) -> dict[str, Any]:
        subnet: dict[str, Any] = self._call(
            "ec2",
            "create_subnet",
            once=True,
            VpcId=vpc_id,
            CidrBlock=cidr,
            AvailabilityZoneId=zone_id,
            TagSpecifications=self._tagged("subnet", tags),
        )["Subnet"]
        return subnet

    def _subnet_with(self, vpc_id: str, cidr: str) -> dict[str, Any] | None:
        in_vpc = [{"Name": "vpc-id", "Values": [vpc_id]}, {"Name": "cidr-block", "Values": [cidr]}]
        subnets = self._call("ec2", "describe_subnets", Filters=in_vpc)["Subnets"]
        return subnets[0] if subnets else None

    def _internet_gateway(self, name: str) -> dict[str, Any] | None:
        gateways = self._call(
            "ec2", "describe_internet_gateways", Filters=[{"Name": f"tag:{NAME_TAG}", "Values": [name]}]
        )["InternetGateways"]
        return gateways[0] if gateways else None

    def _ensure_internet_gateway(self, name: str, vpc_id: str, tags: dict[str, str]) -> str:
        gateway = self._internet_gateway(name)
        if gateway is None:
            gateway = self._create_looking_again(
                lambda: self._internet_gateway(name),
                lambda: self._call(
                    "ec2",
                    "create_internet_gateway",
                    once=True,
                    TagSpecifications=self._tagged("internet-gateway", tags),
                )["InternetGateway"],
            )
        if not any(attachment.get("VpcId") == vpc_id for attachment in gateway.get("Attachments", [])):
            try:
                self._call(
                    "ec2", "attach_internet_gateway", InternetGatewayId=gateway["InternetGatewayId"], VpcId=vpc_id
                )
            except errors.ProviderError:
                # A try whose answer was lost may have attached it: EC2 then refuses the next one
                # (Resource.AlreadyAssociated). Attached to this VPC is what was asked for.
                again = self._internet_gateway(name) or {}
                if not any(attachment.get("VpcId") == vpc_id for attachment in again.get("Attachments", [])):
                    raise
        return str(gateway["InternetGatewayId"])

    def _ensure_nat_gateway(
        self, spec: NetworkSpec, vpc_id: str, zone_id: str, subnet_id: str, tags: dict[str, str]
    ) -> str:
        """The zone's NAT gateway in its public subnet, with an Elastic IP of its own."""
        live = [
            {"Name": "vpc-id", "Values": [vpc_id]},
            {"Name": "subnet-id", "Values": [subnet_id]},
            {"Name": "state", "Values": ["pending", "available"]},
        ]
        gateways = self._call("ec2", "describe_nat_gateways", Filter=live)["NatGateways"]
        if gateways:
            return str(gateways[0]["NatGatewayId"])
        zone_tags = {**tags, "Name": f"{spec.name}-nat-{zone_id}", ZONE_TAG: zone_id}

        def address() -> str | None:
            tagged = [
                {"Name": f"tag:{NAME_TAG}", "Values": [spec.name]},
                {"Name": f"tag:{ZONE_TAG}", "Values": [zone_id]},
            ]
            addresses = self._call("ec2", "describe_addresses", Filters=tagged)["Addresses"]
            return str(addresses[0]["AllocationId"]) if addresses else None

        allocation_id = address() or self._create_looking_again(
            address,
            lambda: self._call(
                "ec2",
                "allocate_address",
                once=True,
                Domain="vpc",
                TagSpecifications=self._tagged("elastic-ip", zone_tags),
            )["AllocationId"],
        )
        gateway = self._call(
            "ec2",
            "create_nat_gateway",
            SubnetId=subnet_id,
            AllocationId=allocation_id,
            ClientToken=idempotency_token(self.account, self.region, spec.name, "nat", zone_id),
            TagSpecifications=self._tagged("natgateway", zone_tags),
        )["NatGateway"]
        return str(gateway["NatGatewayId"])

    def _ensure_route_table(
        self,
        name: str,
        vpc_id: str,
        tier: str,
        subnet_ids: list[str],
        default_route: dict[str, Any] | None,
        tags: dict[str, str],
        zone_id: str = "",
    ) -> None:
        """The tier's route table (one per zone for private subnets), its default route, and its subnets.

        A subnet associated with another table (the one private table of an
        older network) is moved over with ``ReplaceRouteTableAssociation``.
        """
        filters = [
            {"Name": "vpc-id", "Values": [vpc_id]},
            {"Name": f"tag:{NAME_TAG}", "Values": [name]},
            {"Name": f"tag:{TIER_TAG}", "Values": [tier]},
        ]
        if zone_id:
            filters.append({"Name": f"tag:{ZONE_TAG}", "Values": [zone_id]})
        tables = self._call("ec2", "describe_route_tables", Filters=filters)["RouteTables"]
        if tables:
            table = tables[0]
        else:
            table_tags = {**tags, "Name": f"{name}-{tier}" + (f"-{zone_id}" if zone_id else ""), TIER_TAG: tier}
            if zone_id:
                table_tags[ZONE_TAG] = zone_id
            table = self._call(
                "ec2",
                "create_route_table",
                VpcId=vpc_id,
                # CreateRouteTable takes a client token: a retry after a lost answer returns the first table.
                ClientToken=idempotency_token(self.account, self.region, name, tier, zone_id, "route-table"),
                TagSpecifications=self._tagged("route-table", table_tags),
            )["RouteTable"]
        table_id = table["RouteTableId"]
        current = next(
            (route for route in table.get("Routes", []) if route.get("DestinationCidrBlock") == "0.0.0.0/0"), None
        )
        if default_route and current is None:
            self._call(
                "ec2",
                "create_route",
                exists_ok=True,
                RouteTableId=table_id,
                DestinationCidrBlock="0.0.0.0/0",
                **default_route,
            )
        elif (
            default_route
            and current is not None
            and any(current.get(key) != value for key, value in default_route.items())
        ):
            target: dict[str, Any] = dict(default_route)
            self._call("ec2", "replace_route", RouteTableId=table_id, DestinationCidrBlock="0.0.0.0/0", **target)
        associated = {association.get("SubnetId") for association in table.get("Associations", [])}
        for subnet_id in subnet_ids:
            if subnet_id in associated:
                continue
            elsewhere = self._call(
                "ec2",
                "describe_route_tables",
                Filters=[{"Name": "association.subnet-id", "Values": [subnet_id]}],
            )["RouteTables"]
            association_id = next(
                (
                    association["RouteTableAssociationId"]
                    for other in elsewhere
                    for association in other.get("Associations", [])
                    if association.get("SubnetId") == subnet_id
                ),
                None,
            )
            if association_id:
                self._call(
                    "ec2", "replace_route_table_association", AssociationId=association_id, RouteTableId=table_id
                )
            else:
                self._call("ec2", "associate_route_table", exists_ok=True, RouteTableId=table_id, SubnetId=subnet_id)

    def describe_network(self, name: str) -> NetworkInfo:
        """The VPC tagged with this name, its subnets and NAT gateways, or NotFound."""
        vpc = self._vpc(name)
        if vpc is None:
            raise errors.NotFound(f"no VPC tagged {NAME_TAG}={name}", resource=name)
        in_vpc = [{"Name": "vpc-id", "Values": [vpc["VpcId"]]}]
        subnets = self._call("ec2", "describe_subnets", Filters=in_vpc)["Subnets"]
        live = [*in_vpc, {"Name": "state", "Values": ["pending", "available"]}]
        gateways = self._call("ec2", "describe_nat_gateways", Filter=live)["NatGateways"]
        return NetworkInfo(
            id=vpc["VpcId"],
            name=name,
            cidr=vpc["CidrBlock"],
            status=vpc["State"],
            subnets=tuple(
                SubnetInfo(
                    id=subnet["SubnetId"],
                    cidr=subnet["CidrBlock"],
                    availability_zone=subnet["AvailabilityZone"],
                    public=_tag_dict(subnet.get("Tags")).get(TIER_TAG) == "public",
                    zone_id=str(subnet.get("AvailabilityZoneId", "")),
                )
                for subnet in sorted(subnets, key=lambda subnet: subnet["CidrBlock"])
            ),
            nat_gateway_ids=tuple(gateway["NatGatewayId"] for gateway in gateways),
            tags=_tag_dict(vpc.get("Tags")),
        )

    def delete_network(self, name: str) -> None:
        """Delete what the portal created in the VPC, then the VPC; a missing one is already deleted.

        On AWS a NAT gateway takes minutes to go, and until it has, its Elastic
        IP and its subnet cannot be released: while any is ``deleting`` this
        raises :class:`~providers.errors.Busy` so the step looks again later.
        The RDS and ElastiCache subnet groups and the portal's security groups
        left in the VPC (a cache's, whose deletion the rollback does not wait
        out) go before the subnets.
        """
        vpc = self._vpc(name)
        if vpc is None:
            return
        vpc_id = vpc["VpcId"]
        in_vpc = [{"Name": "vpc-id", "Values": [vpc_id]}]
        gateways = self._call("ec2", "describe_nat_gateways", Filter=in_vpc)["NatGateways"]
        for gateway in gateways:
            if gateway["State"] not in ("deleted", "deleting"):
                self._delete_ec2("delete_nat_gateway", NatGatewayId=gateway["NatGatewayId"])
        if gateways:
            going = [
                gateway["NatGatewayId"]
                for gateway in self._call("ec2", "describe_nat_gateways", Filter=in_vpc)["NatGateways"]
                if gateway["State"] not in ("deleted", "failed")
            ]
            if going:
                raise errors.Busy(f"NAT gateways {', '.join(going)} are being deleted", resource=name, retry_after=30)
        by_name = [{"Name": f"tag:{NAME_TAG}", "Values": [name]}]
        for address in self._call("ec2", "describe_addresses", Filters=by_name)["Addresses"]:
            self._delete_ec2("release_address", AllocationId=address["AllocationId"])
        for gateway in self._call("ec2", "describe_internet_gateways", Filters=by_name)["InternetGateways"]:
            for attachment in gateway.get("Attachments", []):
                try:
                    self._call(
                        "ec2",
                        "detach_internet_gateway",
                        InternetGatewayId=gateway["InternetGatewayId"],
                        VpcId=attachment["VpcId"],
                    )
                except errors.ProviderError:
                    # A try whose answer was lost may have detached it: EC2 then answers Gateway.NotAttached.
                    again = self._internet_gateway(name) or {}
                    if any(other.get("VpcId") == attachment["VpcId"] for other in again.get("Attachments", [])):
                        raise
            self._delete_ec2("delete_internet_gateway", InternetGatewayId=gateway["InternetGatewayId"])
        self._delete_data_placement_in(vpc_id)
        for table in self._call("ec2", "describe_route_tables", Filters=in_vpc)["RouteTables"]:
            if any(association.get("Main") for association in table.get("Associations", [])):
                continue
            for association in table.get("Associations", []):
                self._delete_ec2("disassociate_route_table", AssociationId=association["RouteTableAssociationId"])
            self._delete_ec2("delete_route_table", RouteTableId=table["RouteTableId"])
        for subnet in self._call("ec2", "describe_subnets", Filters=in_vpc)["Subnets"]:
            self._delete_ec2("delete_subnet", SubnetId=subnet["SubnetId"])
        self._delete_ec2("delete_vpc", VpcId=vpc_id)

    def _delete_ec2(self, operation: str, **params: Any) -> None:
        """One EC2 delete, where NotFound means done: a delete whose answer was lost (a timeout, a 5xx) is
        re-sent by the retry and then answered ``…NotFound``, which is what was asked for."""
        with contextlib.suppress(errors.NotFound):
            self._call("ec2", operation, **params)

    def _delete_data_placement_in(self, vpc_id: str) -> None:
        """The RDS and ElastiCache subnet groups over this VPC's subnets, and the portal's security groups in it."""
        for group in self._pages("rds", "describe_db_subnet_groups", "DBSubnetGroups"):
            if group.get("VpcId") == vpc_id:
                with contextlib.suppress(errors.NotFound):
                    self._call("rds", "delete_db_subnet_group", DBSubnetGroupName=group["DBSubnetGroupName"])
        for group in self._pages("elasticache", "describe_cache_subnet_groups", "CacheSubnetGroups"):
            if group.get("VpcId") == vpc_id:
                with contextlib.suppress(errors.NotFound):
                    self._call(
                        "elasticache", "delete_cache_subnet_group", CacheSubnetGroupName=group["CacheSubnetGroupName"]
                    )
        portal_groups = [{"Name": "vpc-id", "Values": [vpc_id]}, {"Name": "tag-key", "Values": [NAME_TAG]}]
        for group in self._call("ec2", "describe_security_groups", Filters=portal_groups)["SecurityGroups"]:
            if group.get("GroupName") != "default":
                with contextlib.suppress(errors.NotFound):
                    self._call("ec2", "delete_security_group", GroupId=group["GroupId"])

    # ------------------------------------------------------------ EKS

    def ensure_kubernetes_cluster(self, spec: KubernetesClusterSpec) -> KubernetesClusterInfo:
        """Create the EKS cluster if missing, then each missing managed node group."""
        names.check("eks_cluster", spec.name)
        try:
            cluster = self._call("eks", "describe_cluster", name=spec.name)["cluster"]
        except errors.NotFound:
            cluster = None
        if cluster is None:
            encryption: dict[str, Any] = {}
            if spec.secrets_encryption_key:
                # Envelope encryption of Kubernetes secrets with the region's key: CreateCluster
                # encryptionConfig, resources ["secrets"] (the only one EKS takes), the key in the cluster's region.
                encryption["encryptionConfig"] = [
                    {"resources": ["secrets"], "provider": {"keyArn": spec.secrets_encryption_key}}
                ]
            self._call(
                "eks",
                "create_cluster",
                exists_ok=True,
                name=spec.name,
                version=spec.version,
                roleArn=spec.control_plane_role,
                resourcesVpcConfig={"subnetIds": list(spec.subnet_ids)},
                tags={**spec.tags, NAME_TAG: spec.name},
                clientRequestToken=idempotency_token(self.account, self.region, "eks", spec.name),
                **encryption,
            )
            cluster = self._call("eks", "describe_cluster", name=spec.name)["cluster"]
        if spec.network_policy and str(cluster.get("status", "")).upper() == "ACTIVE":
            # Add-ons go on an active cluster; until then the step waits for the cluster and asks again.
            self._ensure_network_policy_addon(spec.name, str(cluster.get("version") or spec.version))
        for pool in spec.node_pools:
            self.ensure_node_pool(spec.name, pool, spec.node_role)
        return self.describe_kubernetes_cluster(spec.name)

    def _ensure_network_policy_addon(self, cluster_name: str, kubernetes_version: str) -> None:
        """The ``vpc-cni`` EKS add-on with network policy enforcement on.

        "Network policies are not enabled by default": the VPC CNI (1.14 or
        later) enforces them only with ``{"enableNetworkPolicy": "true"}`` in
        the add-on's configuration values. A new cluster runs a self-managed
        VPC CNI, so the managed add-on is created with ``resolveConflicts``
        ``OVERWRITE`` to take its fields over; an existing add-on keeps its
        other settings (``PRESERVE``) and gets the one value added.
        """
        try:
            addon = self._call("eks", "describe_addon", clusterName=cluster_name, addonName=NETWORK_POLICY_ADDON)[
                "addon"
            ]
        except errors.NotFound:
            self._call(
                "eks",
                "create_addon",
                exists_ok=True,
                clusterName=cluster_name,
                addonName=NETWORK_POLICY_ADDON,
                addonVersion=self._network_policy_addon_version(kubernetes_version),
                configurationValues=json.dumps(NETWORK_POLICY_CONFIGURATION),
                resolveConflicts="OVERWRITE",
                clientRequestToken=idempotency_token(self.account, self.region, "eks", cluster_name, "vpc-cni"),
            )
            return
        configured = _configuration(addon.get("configurationValues", ""))
        if configured.get("enableNetworkPolicy") == "true" and _addon_version(addon.get("addonVersion", "")) >= (
            MIN_NETWORK_POLICY_CNI
        ):
            return
        if str(addon.get("status", "")).upper() in ("CREATING", "UPDATING", "DELETING"):
            return  # the step waits for it to settle and asks again
        if _addon_version(addon.get("addonVersion", "")) < MIN_NETWORK_POLICY_CNI:
            raise errors.InvalidRequest(
                f"The cluster's vpc-cni add-on is {addon.get('addonVersion')}; network policies need "
                "v1.14 or later. Update the add-on (one minor version at a time), then run the step again.",
                resource=cluster_name,
            )
        self._call(
            "eks",
            "update_addon",
            clusterName=cluster_name,
            addonName=NETWORK_POLICY_ADDON,
            configurationValues=json.dumps({**configured, **NETWORK_POLICY_CONFIGURATION}),
            resolveConflicts="PRESERVE",
        )

    def _network_policy_addon_version(self, kubernetes_version: str) -> str:
        """The add-on version EKS names the default for this Kubernetes version, or the newest one, at least 1.14."""
        addons = self._call(
            "eks", "describe_addon_versions", addonName=NETWORK_POLICY_ADDON, kubernetesVersion=kubernetes_version
        ).get("addons", [])
        versions = [version for addon in addons for version in addon.get("addonVersions", [])]
        usable = [version for version in versions if _addon_version(version["addonVersion"]) >= MIN_NETWORK_POLICY_CNI]
        if not usable:
            raise errors.InvalidRequest(
                f"EKS offers no vpc-cni add-on of v1.14 or later for Kubernetes {kubernetes_version}, "
                "which network policies need",
            )
        default = [
            version
            for version in usable
            if any(
                compatibility.get("defaultVersion") and compatibility.get("clusterVersion") == kubernetes_version
                for compatibility in version.get("compatibilities", [])
            )
        ]
        chosen = max(default or usable, key=lambda version: _addon_version(version["addonVersion"]))
        return str(chosen["addonVersion"])

    def kubernetes_versions(self) -> list[KubernetesVersionInfo]:
        """EKS's ``DescribeClusterVersions``: the versions a new cluster can be created with, newest first.

        Without ``includeAll`` EKS lists the versions it currently offers. Each
        has ``versionStatus`` STANDARD_SUPPORT, EXTENDED_SUPPORT or UNSUPPORTED
        (the older ``status`` field, deprecated, says the same in lower case),
        ``defaultVersion`` for the version a cluster gets when none is asked for,
        and ``clusterType`` ("eks"; EKS on Outposts has its own versions, which
        the portal does not build, so they are left out).
        """
        support = {"STANDARD_SUPPORT": "standard", "EXTENDED_SUPPORT": "extended"}
        offered: list[KubernetesVersionInfo] = []
        for item in self._pages("eks", "describe_cluster_versions", "clusterVersions"):
            if item.get("clusterType", "eks") != "eks":
                continue
            status = item.get("versionStatus") or str(item.get("status", "")).upper().replace("-", "_")
            if status not in support or not item.get("clusterVersion"):
                continue
            end = item.get("endOfStandardSupportDate")
            offered.append(
                KubernetesVersionInfo(
                    version=item["clusterVersion"],
                    support=support[status],  # type: ignore[arg-type]
                    default=bool(item.get("defaultVersion")),
                    end_of_standard_support=end.date() if isinstance(end, datetime) else None,
                    patch_versions=(item["kubernetesPatchVersion"],) if item.get("kubernetesPatchVersion") else (),
                )
            )
        return newest_first(offered)

    def ensure_node_pool(self, cluster_name: str, pool: NodePoolSpec, node_role: str = "") -> NodePoolInfo:
        """Create the managed node group if missing: spot capacity for pools marked ``spot``."""
        try:
            group = self._call("eks", "describe_nodegroup", clusterName=cluster_name, nodegroupName=pool.name)
        except errors.NotFound:
            cluster = self._call("eks", "describe_cluster", name=cluster_name)["cluster"]
            self._call(
                "eks",
                "create_nodegroup",
                exists_ok=True,
                clusterName=cluster_name,
                nodegroupName=pool.name,
                scalingConfig={"minSize": pool.min_size, "maxSize": pool.max_size, "desiredSize": pool.desired_size},
                subnets=cluster["resourcesVpcConfig"]["subnetIds"],
                instanceTypes=[pool.instance_type],
                nodeRole=node_role,
                capacityType="SPOT" if pool.spot else "ON_DEMAND",
                labels={POOL_KIND_LABEL: pool.kind},
                **(GPU_POOL if pool.kind == "gpu" else {}),
                tags={**cluster.get("tags", {}), "portal:node-pool": pool.name},
                clientRequestToken=idempotency_token(self.account, self.region, "eks", cluster_name, pool.name),
            )
            group = self._call("eks", "describe_nodegroup", clusterName=cluster_name, nodegroupName=pool.name)
        return self._pool_info(group["nodegroup"])

    @staticmethod
    def _pool_info(group: dict[str, Any]) -> NodePoolInfo:
        scaling = group.get("scalingConfig", {})
        return NodePoolInfo(
            name=group["nodegroupName"],
            status=str(group.get("status", "")).lower(),
            instance_type=(group.get("instanceTypes") or [""])[0],
            min_size=int(scaling.get("minSize", 0)),
            max_size=int(scaling.get("maxSize", 0)),
            desired_size=int(scaling.get("desiredSize", 0)),
            spot=group.get("capacityType") == "SPOT",
            kind=group.get("labels", {}).get(POOL_KIND_LABEL, "general"),
        )

    def describe_kubernetes_cluster(self, name: str) -> KubernetesClusterInfo:
        """The EKS cluster, its endpoint and CA, and its managed node groups, or NotFound."""
        cluster = self._call("eks", "describe_cluster", name=name)["cluster"]
        group_names = self._pages("eks", "list_nodegroups", "nodegroups", clusterName=name)
        pools = [
            self._pool_info(self._call("eks", "describe_nodegroup", clusterName=name, nodegroupName=group)["nodegroup"])
            for group in sorted(group_names)
        ]
        return KubernetesClusterInfo(
            name=name,
            id=cluster["arn"],
            status=str(cluster.get("status", "")).lower(),
            version=cluster.get("version", ""),
            endpoint=cluster.get("endpoint", ""),
            certificate_authority_data=cluster.get("certificateAuthority", {}).get("data", ""),
            node_pools=tuple(pools),
            tags=dict(cluster.get("tags", {})),
            **self._network_policy_state(name),
            subnet_ids=tuple(cluster.get("resourcesVpcConfig", {}).get("subnetIds", ())),
            network_id=self._cluster_vpc(cluster.get("resourcesVpcConfig", {})),
        )

    def _cluster_vpc(self, vpc_config: dict[str, Any]) -> str:
        """The cluster's VPC: EKS reports ``vpcId``; where it does not (moto), the VPC of its subnets."""
        if vpc_config.get("vpcId") or not vpc_config.get("subnetIds"):
            return str(vpc_config.get("vpcId", ""))
        try:
            subnets = self._call("ec2", "describe_subnets", SubnetIds=list(vpc_config["subnetIds"][:1]))["Subnets"]
        except errors.NotFound:  # the subnet is gone: the cluster has no network left to place anything in
            return ""
        return str(subnets[0]["VpcId"]) if subnets else ""

    def _network_policy_state(self, cluster_name: str) -> dict[str, str]:
        try:
            addon = self._call("eks", "describe_addon", clusterName=cluster_name, addonName=NETWORK_POLICY_ADDON)[
                "addon"
            ]
        except errors.NotFound:
            return {"network_policy": "", "network_policy_status": ""}
        enforced = _configuration(addon.get("configurationValues", "")).get("enableNetworkPolicy") == "true"
        return {
            "network_policy": f"{NETWORK_POLICY_ADDON} {addon.get('addonVersion', '')}"
            + ("" if enforced else " (network policy off)"),
            "network_policy_status": str(addon.get("status", "")).lower(),
        }

    def delete_node_pool(self, cluster_name: str, pool_name: str) -> None:
        """Delete one managed node group; a missing one is already deleted."""
        try:
            self._call("eks", "delete_nodegroup", clusterName=cluster_name, nodegroupName=pool_name)
        except errors.NotFound:
            return

    def delete_kubernetes_cluster(self, name: str) -> None:
        """Delete the node groups, then the cluster (on AWS, a ``Conflict`` until the groups are gone)."""
        try:
            self._call("eks", "describe_cluster", name=name)
        except errors.NotFound:
            return
        group_names = self._pages("eks", "list_nodegroups", "nodegroups", clusterName=name)
        for group in group_names:
            self.delete_node_pool(name, group)
        try:
            self._call("eks", "delete_cluster", name=name)
        except errors.NotFound:
            return

    def kubernetes_token(self, cluster_name: str) -> tuple[str, datetime]:
        """The EKS bearer token: a presigned STS ``GetCallerIdentity`` URL naming the cluster, ``k8s-aws-v1.``."""
        sts = self.client("sts")

        def name_the_cluster(request: Any, **_: Any) -> None:
            request.headers["x-k8s-aws-id"] = cluster_name

        sts.meta.events.register_first("before-sign.sts.GetCallerIdentity", name_the_cluster)
        try:
            url = sts.generate_presigned_url("get_caller_identity", Params={}, ExpiresIn=60, HttpMethod="GET")
        finally:
            sts.meta.events.unregister("before-sign.sts.GetCallerIdentity", name_the_cluster)
        token = "k8s-aws-v1." + base64.urlsafe_b64encode(url.encode()).decode().rstrip("=")
        return token, self.clock() + TOKEN_LIFETIME

    # ------------------------------------------------------------ data placement

    @staticmethod
    def _require_placement(what: str, name: str, subnet_ids: Sequence[str], vpc_id: str) -> None:
        if not subnet_ids or not vpc_id:
            raise errors.InvalidRequest(
                f"{what} {name} needs the private subnets of its network to be placed in: without a subnet group "
                "AWS puts it in the account's default VPC (and refuses where there is none).",
                resource=name,
            )

    def _allowed_cidr(self, spec: DatabaseSpec | CacheSpec | Placement) -> str:
        """The address range allowed to reach a data service: the spec's, else its VPC's own range (an environment
        placed beside its cluster knows the cluster's VPC, not the range)."""
        if spec.allowed_cidr:
            return spec.allowed_cidr
        vpcs = self._call("ec2", "describe_vpcs", VpcIds=[spec.vpc_id], resource=spec.vpc_id)["Vpcs"]
        return str(vpcs[0]["CidrBlock"])

    def _ensure_access_group(self, name: str, vpc_id: str, port: int, cidr: str, tags: Tags) -> str:
        """The data service's security group: TCP ``port`` from ``cidr`` and nothing else (other ingress is revoked)."""
        group_name = access_group_name(name)

        def find() -> dict[str, Any] | None:
            found = self._call(
                "ec2",
                "describe_security_groups",
                Filters=[{"Name": "vpc-id", "Values": [vpc_id]}, {"Name": "group-name", "Values": [group_name]}],
            )["SecurityGroups"]
            return dict(found[0]) if found else None

        def create() -> dict[str, Any]:
            # CreateSecurityGroup takes no client token: one whose answer was lost is looked for before another
            # try, which EC2 would refuse as InvalidGroup.Duplicate.
            group_id = self._call(
                "ec2",
                "create_security_group",
                once=True,
                GroupName=group_name,
                Description=f"Port {port} of {name} from its network only",
                VpcId=vpc_id,
                TagSpecifications=self._tagged(
                    "security-group", {**tags, NAME_TAG: group_name, DATA_SERVICE_TAG: name, "Name": group_name}
                ),
            )["GroupId"]
            return {"GroupId": group_id, "IpPermissions": []}

        group = find() or self._create_looking_again(find, create)
        group_id = str(group["GroupId"])
        allowed = False
        stray: list[dict[str, Any]] = []
        for permission in group.get("IpPermissions", []):
            on_port = (
                permission.get("IpProtocol") == "tcp"
                and permission.get("FromPort") == port
                and permission.get("ToPort") == port
            )
            ranges = []
            for address_range in permission.get("IpRanges", []):
                if on_port and address_range.get("CidrIp") == cidr:
                    allowed = True
                else:
                    ranges.append({"CidrIp": address_range["CidrIp"]})
            others = {
                key: permission[key]
                for key in ("Ipv6Ranges", "PrefixListIds", "UserIdGroupPairs")
                if permission.get(key)
            }
            if ranges or others:
                ports = {key: permission[key] for key in ("FromPort", "ToPort") if key in permission}
                stray.append({"IpProtocol": permission["IpProtocol"], **ports, **others, "IpRanges": ranges})
        if stray:
            self._call("ec2", "revoke_security_group_ingress", GroupId=group_id, IpPermissions=stray)
        if not allowed:
            self._call(
                "ec2",
                "authorize_security_group_ingress",
                exists_ok=True,
                GroupId=group_id,
                IpPermissions=[
                    {
                        "IpProtocol": "tcp",
                        "FromPort": port,
                        "ToPort": port,
                        "IpRanges": [{"CidrIp": cidr, "Description": "the network of the service"}],
                    }
                ],
            )
        return group_id

    def _delete_access_group(self, name: str) -> None:
        group_name = access_group_name(name)
        found = self._call(
            "ec2",
            "describe_security_groups",
            Filters=[
                {"Name": "group-name", "Values": [group_name]},
                {"Name": f"tag:{DATA_SERVICE_TAG}", "Values": [name]},
            ],
        )["SecurityGroups"]
        for group in found:
            with contextlib.suppress(errors.NotFound):
                self._call("ec2", "delete_security_group", GroupId=group["GroupId"])

    def _ensure_db_subnet_group(self, name: str, subnet_ids: Sequence[str], tags: Tags) -> str:
        """The DB subnet group over the private subnets ("at least one subnet in at least two AZs")."""
        group_name = subnet_group_name(name)
        try:
            group = self._call("rds", "describe_db_subnet_groups", DBSubnetGroupName=group_name)["DBSubnetGroups"][0]
        except errors.NotFound:
            self._call(
                "rds",
                "create_db_subnet_group",
                exists_ok=True,
                DBSubnetGroupName=group_name,
                DBSubnetGroupDescription=f"Private subnets of {name}",
                SubnetIds=list(subnet_ids),
                Tags=_tag_list({**tags, NAME_TAG: group_name}),
            )
            return group_name
        if {subnet["SubnetIdentifier"] for subnet in group.get("Subnets", [])} != set(subnet_ids):
            self._call(
                "rds",
                "modify_db_subnet_group",
                DBSubnetGroupName=group_name,
                DBSubnetGroupDescription=f"Private subnets of {name}",
                SubnetIds=list(subnet_ids),
            )
        return group_name

    def _ensure_cache_subnet_group(self, name: str, subnet_ids: Sequence[str], tags: Tags) -> str:
        """The ElastiCache subnet group over the private subnets."""
        group_name = subnet_group_name(name)
        try:
            group = self._call("elasticache", "describe_cache_subnet_groups", CacheSubnetGroupName=group_name)[
                "CacheSubnetGroups"
            ][0]
        except errors.NotFound:
            self._call(
                "elasticache",
                "create_cache_subnet_group",
                exists_ok=True,
                CacheSubnetGroupName=group_name,
                CacheSubnetGroupDescription=f"Private subnets of {name}",
                SubnetIds=list(subnet_ids),
                Tags=_tag_list({**tags, NAME_TAG: group_name}),
            )
            return group_name
        if {subnet["SubnetIdentifier"] for subnet in group.get("Subnets", [])} != set(subnet_ids):
            self._call(
                "elasticache",
                "modify_cache_subnet_group",
                CacheSubnetGroupName=group_name,
                SubnetIds=list(subnet_ids),
            )
        return group_name

    def _delete_db_placement(self, name: str) -> None:
        with contextlib.suppress(errors.NotFound):
            self._call("rds", "delete_db_subnet_group", DBSubnetGroupName=subnet_group_name(name))
        self._delete_access_group(name)

    def _delete_cache_placement(self, name: str) -> None:
        with contextlib.suppress(errors.NotFound):
            self._call("elasticache", "delete_cache_subnet_group", CacheSubnetGroupName=subnet_group_name(name))
        self._delete_access_group(name)

    # ------------------------------------------------------------ RDS

    def _replica_name(self, name: str) -> str:
        return names.fit(f"{name}-replica", names.RULES["rds_instance"].max_length)

    def ensure_database(self, spec: DatabaseSpec) -> DatabaseInfo:
        """Create the PostgreSQL instance (encrypted, with backups) if missing, then its DR replica."""
        names.check("rds_instance", spec.name)
        self._require_placement("The database", spec.name, spec.subnet_ids, spec.vpc_id)
        subnet_group = self._ensure_db_subnet_group(spec.name, spec.subnet_ids, spec.tags)
        access = self._ensure_access_group(spec.name, spec.vpc_id, POSTGRES_PORT, self._allowed_cidr(spec), spec.tags)
        try:
            self._call("rds", "describe_db_instances", DBInstanceIdentifier=spec.name)
        except errors.NotFound:
            params: dict[str, Any] = {
                "DBInstanceIdentifier": spec.name,
                "Engine": "postgres",
                "EngineVersion": spec.engine_version,
                "DBInstanceClass": spec.instance_class,
                "AllocatedStorage": spec.storage_gb,
                # RDS keeps point-in-time recovery whenever automated backups are on.
                "BackupRetentionPeriod": spec.backup_retention_days,
                "StorageEncrypted": True,
                "MasterUsername": spec.master_username,
                "ManageMasterUserPassword": True,
                "CopyTagsToSnapshot": True,
                "Tags": _tag_list({**spec.tags, NAME_TAG: spec.name}),
                # Without a DB subnet group RDS places the instance in the account's default VPC.
                "DBSubnetGroupName": subnet_group,
                "VpcSecurityGroupIds": [access],
                "PubliclyAccessible": False,
            }
            if spec.encryption_key_id:
                params["KmsKeyId"] = spec.encryption_key_id
            self._call("rds", "create_db_instance", exists_ok=True, **params)
        if spec.replica_region:
            self.ensure_database_replica(
                spec.name,
                spec.replica_region,
                spec.replica_encryption_key_id,
                placement=spec.replica_placement,
            )
        return self.describe_database(spec.name)

    def ensure_database_replica(
        self,
        name: str,
        region: str,
        encryption_key_id: str | None = None,
        *,
        placement: Placement | None = None,
    ) -> ReplicaInfo:
        """Create the cross-region read replica if missing, in ``placement``: a DB subnet group over its subnets
        and a security group admitting its address range only, both in ``region``.

        CreateDBInstanceReadReplica, DBSubnetGroupName: "If no DB subnet
        group is specified, then the new DB instance isn't created in a VPC"
        and "must be in the same Amazon Web Services Region in which the
        operation is running"; a replica in the source's own region takes
        none (``DBSubnetGroupNotAllowedFault``), so only a cross-region one
        needs ``placement``. An encrypted primary's replica is encrypted with
        ``encryption_key_id``, else with the key of the primary's key's alias
        in ``region``. ``SourceRegion`` makes botocore presign the
        ``PreSignedUrl`` RDS needs for a cross-region replica (and drop
        ``SourceRegion`` from the request).
        """
        replica = self._replica_name(name)
        try:
            self._call("rds", "describe_db_instances", region=region, DBInstanceIdentifier=replica)
        except errors.NotFound:
            primary = self._call("rds", "describe_db_instances", DBInstanceIdentifier=name)["DBInstances"][0]
            tags = {**_tag_dict(primary.get("TagList")), NAME_TAG: replica}
            params: dict[str, Any] = {}
            if region != self.region:
                params.update(self._replica_placement(replica, region, placement, tags))
            if primary.get("StorageEncrypted") and region != self.region:
                # CreateDBInstanceReadReplica, KmsKeyId: "If you create an encrypted read replica in a different
                # AWS Region, then you must specify a KMS key identifier for the destination AWS Region. KMS keys
                # are specific to the AWS Region that they are created in."
                params["KmsKeyId"] = encryption_key_id or self._counterpart_key(primary.get("KmsKeyId", ""), region)
            self._call(
                "rds",
                "create_db_instance_read_replica",
                region=region,
                exists_ok=True,
                DBInstanceIdentifier=replica,
                SourceDBInstanceIdentifier=primary["DBInstanceArn"],
                SourceRegion=self.region,
                DBInstanceClass=primary["DBInstanceClass"],
                Tags=_tag_list(tags),
                **params,
            )
        info = self._replica_info(name, region)
        if info is None:
            raise errors.Conflict(_PROMOTED.format(replica=replica, region=region), resource=replica)
        return info

    def in_region(self, region: str) -> AwsCloudDriver:
        """This driver working in ``region``: the same account, sessions, clients and hooks."""
        there = copy.copy(self)
        there.region = region
        return there

    def _replica_placement(self, replica: str, region: str, placement: Placement | None, tags: Tags) -> dict[str, Any]:
        """The placement parameters of a replica in ``region``, making its subnet group and security group there."""
        there = self.in_region(region)
        where = placement or Placement()
        there._require_placement(f"The read replica in {region}", replica, where.subnet_ids, where.vpc_id)
        subnet_group = there._ensure_db_subnet_group(replica, where.subnet_ids, tags)
        access = there._ensure_access_group(
            replica, where.vpc_id, POSTGRES_PORT, there._allowed_cidr(where), {**tags, NAME_TAG: replica}
        )
        return {"DBSubnetGroupName": subnet_group, "VpcSecurityGroupIds": [access], "PubliclyAccessible": False}

    def _counterpart_key(self, key_id: str, region: str) -> str:
        """The ARN of the key in ``region`` with the alias of ``key_id`` (a key here), or InvalidRequest saying why not.

        An AWS managed key (``alias/aws/rds``) exists in every region under the same alias; a portal key's
        counterpart is made by the build-out's DR-region key step.
        """
        try:
            listed = self._pages("kms", "list_aliases", "Aliases", KeyId=key_id) if key_id else []
        except errors.NotFound:
            listed, key_id = [], ""  # a key KMS does not know (moto's name for the default key)
        if not key_id:
            return "alias/aws/rds"  # RDS encrypts with the account's default key when none is named
        aliases = [str(alias["AliasName"]) for alias in listed if alias.get("AliasName")]
        if not aliases:
            raise errors.InvalidRequest(
                f"The key {key_id} has no alias, so no key in {region} can be found to encrypt the replica with.",
                resource=key_id,
            )
        alias = sorted(aliases)[0]
        if alias.startswith("alias/aws/"):
            return alias
        try:
            metadata = self._call("kms", "describe_key", region=region, KeyId=alias, resource=alias)["KeyMetadata"]
        except errors.NotFound as missing:
            raise errors.InvalidRequest(
                f"No key is aliased {alias.removeprefix('alias/')} in {region}: an encrypted database's replica "
                f"there needs one (KMS keys are regional).",
                resource=alias,
            ) from missing
        return str(metadata["Arn"])

    def _replica_info(self, name: str, region: str) -> ReplicaInfo | None:
        """The replica in ``region``, or None once it has been promoted (it then replicates nothing)."""
        replica = self._replica_name(name)
        instance = self._call("rds", "describe_db_instances", region=region, DBInstanceIdentifier=replica)[
            "DBInstances"
        ][0]
        promoted = PROMOTED_TAG in _tag_dict(instance.get("TagList"))
        if promoted or not instance.get("ReadReplicaSourceDBInstanceIdentifier"):
            return None
        return ReplicaInfo(
            name=replica,
            region=region,
            status=instance["DBInstanceStatus"],
            lag_seconds=self._replica_lag(replica, region),
        )

    def _replica_lag(self, replica: str, region: str) -> float | None:
        """The latest ``ReplicaLag`` CloudWatch datapoint (RDS does not report lag in ``DescribeDBInstances``)."""
        now = self.clock()
        answer = self._call(
            "cloudwatch",
            "get_metric_statistics",
            region=region,
            Namespace="AWS/RDS",
            MetricName="ReplicaLag",
            Dimensions=[{"Name": "DBInstanceIdentifier", "Value": replica}],
            StartTime=now - timedelta(minutes=15),
            EndTime=now,
            Period=60,
            Statistics=["Average"],
        )
        points = sorted(answer.get("Datapoints", []), key=lambda point: point["Timestamp"])
        return float(points[-1]["Average"]) if points else None

    def describe_database(self, name: str) -> DatabaseInfo:
        """The instance's status, endpoint, retention and latest restorable time, with its replica, or NotFound."""
        return self._describe_database(name, self.region)

    def _describe_database(self, name: str, region: str) -> DatabaseInfo:
        instance = self._call("rds", "describe_db_instances", region=region, DBInstanceIdentifier=name)["DBInstances"][
            0
        ]
        replica = None
        for replica_arn in instance.get("ReadReplicaDBInstanceIdentifiers", []):
            replica_region = replica_arn.split(":")[3] if replica_arn.startswith("arn:") else region
            replica = self._replica_info(name, replica_region)
        endpoint = instance.get("Endpoint", {})
        restorable = instance.get("LatestRestorableTime")
        return DatabaseInfo(
            name=name,
            id=instance["DBInstanceArn"],
            status=instance["DBInstanceStatus"],
            endpoint=endpoint.get("Address", ""),
            port=int(endpoint.get("Port", 0)),
            engine_version=instance.get("EngineVersion", ""),
            backup_retention_days=int(instance.get("BackupRetentionPeriod", 0)),
            latest_restorable_time=restorable.astimezone(UTC) if restorable is not None else None,
            encrypted=bool(instance.get("StorageEncrypted")),
            replica=replica,
            tags=_tag_dict(instance.get("TagList")),
            credentials_reference=instance.get("MasterUserSecret", {}).get("SecretArn", ""),
        )

    def promote_database_replica(self, name: str, region: str, backup_retention_days: int = 7) -> DatabaseInfo:
        """Make the replica in ``region`` a standalone instance with backups on; promoting it again changes nothing."""
        replica = self._replica_name(name)
        instance = self._call("rds", "describe_db_instances", region=region, DBInstanceIdentifier=replica)[
            "DBInstances"
        ][0]
        if PROMOTED_TAG not in _tag_dict(instance.get("TagList")):
            if instance.get("ReadReplicaSourceDBInstanceIdentifier"):
                self._call(
                    "rds",
                    "promote_read_replica",
                    region=region,
                    DBInstanceIdentifier=replica,
                    BackupRetentionPeriod=backup_retention_days,
                )
            self._call(
                "rds",
                "add_tags_to_resource",
                region=region,
                ResourceName=instance["DBInstanceArn"],
                Tags=_tag_list({PROMOTED_TAG: self.clock().isoformat()}),
            )
        return self._describe_database(replica, region)

    def delete_database_replica(self, name: str, region: str) -> None:
        """Delete the read replica in ``region``; once it is gone, its subnet group and security group there."""
        replica = self._replica_name(name)
        try:
            instance = self._call("rds", "describe_db_instances", region=region, DBInstanceIdentifier=replica)[
                "DBInstances"
            ][0]
            if instance.get("DBInstanceStatus") != "deleting":
                self._call(
                    "rds", "delete_db_instance", region=region, DBInstanceIdentifier=replica, SkipFinalSnapshot=True
                )
        except errors.NotFound:
            if region != self.region:
                self.in_region(region)._delete_db_placement(replica)

    def delete_database(self, name: str) -> None:
        """Delete the replica, then the instance (keeping a final snapshot named after it); once the instance is
        gone, its subnet group and security group (AWS refuses to delete them while it uses them).

        Call it again until :meth:`describe_database` finds nothing: the call
        that finds the instance gone removes what it was placed in.
        """
        try:
            instance = self._call("rds", "describe_db_instances", DBInstanceIdentifier=name)["DBInstances"][0]
        except errors.NotFound:
            self._delete_db_placement(name)
            return
        if instance.get("DBInstanceStatus") == "deleting":
            return
        for replica_arn in instance.get("ReadReplicaDBInstanceIdentifiers", []):
            region = replica_arn.split(":")[3] if replica_arn.startswith("arn:") else self.region
            self.delete_database_replica(name, region)
        try:
            self._call(
                "rds",
                "delete_db_instance",
                DBInstanceIdentifier=name,
                SkipFinalSnapshot=False,
                FinalDBSnapshotIdentifier=f"{name}-final",
            )
            self._call("rds", "describe_db_instances", DBInstanceIdentifier=name)
        except errors.NotFound:
            self._delete_db_placement(name)

    # ------------------------------------------------------------ ElastiCache

    def ensure_cache(self, spec: CacheSpec) -> CacheInfo:
        """Create the Redis replication group if missing (encrypted at rest and in transit)."""
        names.check("elasticache_replication_group", spec.name)
        self._require_placement("The Redis cache", spec.name, spec.subnet_ids, spec.vpc_id)
        subnet_group = self._ensure_cache_subnet_group(spec.name, spec.subnet_ids, spec.tags)
        access = self._ensure_access_group(spec.name, spec.vpc_id, REDIS_PORT, self._allowed_cidr(spec), spec.tags)
        try:
            self._call("elasticache", "describe_replication_groups", ReplicationGroupId=spec.name)
        except errors.NotFound:
            self._call(
                "elasticache",
                "create_replication_group",
                exists_ok=True,
                ReplicationGroupId=spec.name,
                ReplicationGroupDescription=f"portal {spec.name}",
                Engine="redis",
                EngineVersion=spec.engine_version,
                CacheNodeType=spec.node_type,
                NumCacheClusters=1 + spec.replicas,
                AutomaticFailoverEnabled=spec.replicas > 0,
                AtRestEncryptionEnabled=True,
                TransitEncryptionEnabled=True,
                CacheSubnetGroupName=subnet_group,
                SecurityGroupIds=[access],
                Tags=_tag_list({**spec.tags, NAME_TAG: spec.name}),
            )
        return self.describe_cache(spec.name)

    def describe_cache(self, name: str) -> CacheInfo:
        """The replication group's status and primary endpoint, or NotFound."""
        group = self._call("elasticache", "describe_replication_groups", ReplicationGroupId=name)["ReplicationGroups"][
            0
        ]
        node_groups = group.get("NodeGroups") or [{}]
        primary = node_groups[0].get("PrimaryEndpoint", {})
        return CacheInfo(
            name=name,
            id=group.get("ARN", name),
            status=group.get("Status", ""),
            primary_endpoint=primary.get("Address", ""),
            port=int(primary.get("Port", 0)),
            node_type=group.get("CacheNodeType", ""),
            replicas=max(len(group.get("MemberClusters", [])) - 1, 0),
            tags=self._cache_tags(group["ARN"]) if group.get("ARN") else {},
        )

    def _cache_tags(self, arn: str) -> dict[str, str]:
        return _tag_dict(self._call("elasticache", "list_tags_for_resource", ResourceName=arn).get("TagList"))

    def delete_cache(self, name: str) -> None:
        """Delete the replication group; once it is gone, its subnet group and security group.

        One already ``deleting`` needs nothing more now (ElastiCache refuses
        to delete the groups it still uses); a later call, or the network's
        deletion, removes them.
        """
        try:
            if self.describe_cache(name).status == "deleting":
                return
            self._call("elasticache", "delete_replication_group", ReplicationGroupId=name)
        except errors.NotFound:
            self._delete_cache_placement(name)

    # ------------------------------------------------------------ S3

    def ensure_bucket(self, spec: BucketSpec) -> BucketInfo:
        """Create the bucket if missing, then put its tags, versioning, encryption, replication and lifecycle.

        Bucket names are global. ``HeadBucket`` answers a bare 403 both for
        another account's bucket and for ours when we may not list it, so a
        403 is settled by ``CreateBucket``: ``BucketAlreadyExists`` (another
        account's: :class:`~providers.errors.NameTaken`) or
        ``BucketAlreadyOwnedByYou`` (ours).
        """
        names.check("s3_bucket", spec.name)
        try:
            self._call("s3", "head_bucket", Bucket=spec.name, resource=spec.name)
        except (errors.NotFound, errors.PermissionDenied):
            params: dict[str, Any] = {"Bucket": spec.name}
            if self.region != "us-east-1":
                params["CreateBucketConfiguration"] = {"LocationConstraint": self.region}
            self._call("s3", "create_bucket", exists_ok=True, resource=spec.name, **params)
        self._call(
            "s3",
            "put_bucket_tagging",
            Bucket=spec.name,
            Tagging={"TagSet": _tag_list({**spec.tags, NAME_TAG: spec.name})},
        )
        if spec.versioning:
            self._call("s3", "put_bucket_versioning", Bucket=spec.name, VersioningConfiguration={"Status": "Enabled"})
        if spec.encryption_key_id:
            rule = {
                "ApplyServerSideEncryptionByDefault": {
                    "SSEAlgorithm": "aws:kms",
                    "KMSMasterKeyID": spec.encryption_key_id,
                }
            }
            self._call(
                "s3",
                "put_bucket_encryption",
                Bucket=spec.name,
                ServerSideEncryptionConfiguration={"Rules": [{**rule, "BucketKeyEnabled": True}]},
            )
        if spec.replication_target_bucket:
            self._call(
                "s3",
                "put_bucket_replication",
                Bucket=spec.name,
                ReplicationConfiguration={"Role": spec.replication_role, "Rules": [self._replication_rule(spec)]},
            )
        if spec.cold_storage_after_days is not None:
            self._call(
                "s3",
                "put_bucket_lifecycle_configuration",
                Bucket=spec.name,
                LifecycleConfiguration={
                    "Rules": [
                        {
                            "ID": "portal-cold-storage",
                            "Status": "Enabled",
                            "Filter": {"Prefix": ""},
                            "Transitions": [{"Days": spec.cold_storage_after_days, "StorageClass": "GLACIER"}],
                        }
                    ]
                },
            )
        return self.describe_bucket(spec.name)

    def _replication_rule(self, spec: BucketSpec) -> dict[str, Any]:
        """The one replication rule: every object to the target bucket, SSE-KMS objects re-encrypted there.

        S3 needs the role it assumes to replicate ("Role": an IAM role ARN), and by default "doesn't replicate
        objects that are stored at rest using server-side encryption with AWS KMS keys": the rule must opt in
        (``SourceSelectionCriteria.SseKmsEncryptedObjects``) and name a key "created in the same AWS Region as
        the destination bucket" (``ReplicaKmsKeyID``), which PutBucketReplication does not check.
        """
        if not spec.replication_role:
            raise errors.InvalidRequest(
                f"Replicating {spec.name} needs an IAM role S3 can assume; none was given.", resource=spec.name
            )
        if spec.encryption_key_id and not spec.replication_target_key_id:
            raise errors.InvalidRequest(
                f"{spec.name} is encrypted with a KMS key: replicating it needs a key in the target bucket's region.",
                resource=spec.name,
            )
        destination: dict[str, Any] = {"Bucket": f"arn:{self._partition()}:s3:::{spec.replication_target_bucket}"}
        rule: dict[str, Any] = {
            "ID": "portal-dr",
            "Priority": 1,
            "Status": "Enabled",
            "Filter": {"Prefix": ""},
            "DeleteMarkerReplication": {"Status": "Disabled"},
            "Destination": destination,
        }
        if spec.replication_target_key_id:
            rule["SourceSelectionCriteria"] = {"SseKmsEncryptedObjects": {"Status": "Enabled"}}
            destination["EncryptionConfiguration"] = {"ReplicaKmsKeyID": spec.replication_target_key_id}
        return rule

    def _optional(self, operation: str, bucket: str) -> dict[str, Any] | None:
        try:
            answer: dict[str, Any] = self._call("s3", operation, Bucket=bucket, resource=bucket)
        except errors.NotFound:
            return None
        return answer

    def describe_bucket(self, name: str) -> BucketInfo:
        """The bucket's region, versioning, replication target, cold-storage age and tags, or NotFound."""
        self._call("s3", "head_bucket", Bucket=name, resource=name)
        location = self._call("s3", "get_bucket_location", Bucket=name).get("LocationConstraint") or "us-east-1"
        versioning = self._call("s3", "get_bucket_versioning", Bucket=name).get("Status") == "Enabled"
        replication = self._optional("get_bucket_replication", name)
        target = None
        if replication:
            rules = replication["ReplicationConfiguration"].get("Rules", [])
            target = rules[0]["Destination"]["Bucket"].removeprefix("arn:aws:s3:::") if rules else None
        lifecycle = self._optional("get_bucket_lifecycle_configuration", name)
        cold_after = None
        for rule in (lifecycle or {}).get("Rules", []):
            for transition in rule.get("Transitions", []):
                cold_after = int(transition["Days"])
        tagging = self._optional("get_bucket_tagging", name)
        return BucketInfo(
            name=name,
            region=location,
            versioning=versioning,
            replication_target_bucket=target,
            cold_storage_after_days=cold_after,
            tags=_tag_dict((tagging or {}).get("TagSet")),
        )

    def delete_bucket(self, name: str) -> None:
        """Delete every object version and delete marker, then the bucket; a missing one is already deleted."""
        try:
            versions = self._pages("s3", "list_object_versions", "Versions", Bucket=name)
            markers = self._pages("s3", "list_object_versions", "DeleteMarkers", Bucket=name)
        except errors.NotFound:
            return
        doomed = [{"Key": item["Key"], "VersionId": item["VersionId"]} for item in [*versions, *markers]]
        for start in range(0, len(doomed), 1000):
            self._call(
                "s3", "delete_objects", Bucket=name, Delete={"Objects": doomed[start : start + 1000], "Quiet": True}
            )
        try:
            self._call("s3", "delete_bucket", Bucket=name, resource=name)
        except errors.NotFound:
            return

    def list_objects(self, bucket: str, prefix: str = "") -> list[ObjectInfo]:
        """Objects under ``prefix``, in key order."""
        return [
            ObjectInfo(
                key=item["Key"],
                size=int(item["Size"]),
                last_modified=item["LastModified"],
                etag=str(item.get("ETag", "")).strip('"'),
            )
            for item in self._pages("s3", "list_objects_v2", "Contents", Bucket=bucket, Prefix=prefix)
        ]

    def read_object(self, bucket: str, key: str) -> bytes:
        """The object's content, or NotFound."""
        answer = self._call("s3", "get_object", Bucket=bucket, Key=key, resource=f"{bucket}/{key}")
        body: bytes = answer["Body"].read()
        return body

    def open_object(self, bucket: str, key: str) -> IO[bytes]:
        """The object's body as botocore streams it: each ``read(size)`` takes the next bytes off the connection."""
        answer = self._call("s3", "get_object", Bucket=bucket, Key=key, resource=f"{bucket}/{key}")
        body: IO[bytes] = answer["Body"]
        return body

    # ------------------------------------------------------------ KMS

    def ensure_key(self, spec: KeySpec) -> KeyInfo:
        """Find the key by alias, else by its alias tag (a crash after ``CreateKey``), else create it; then alias it.

        The key gets the portal's key policy (:meth:`key_policy`) and, unless
        the spec says otherwise, yearly automatic rotation; a key found again
        is brought to both (a crash may have come between the calls).
        """
        policy = self.key_policy()
        try:
            info = self.describe_key(spec.alias)
        except errors.NotFound:
            key_id = self._key_tagged(spec.alias)
            if key_id is None:
                tags = {**spec.tags, ALIAS_TAG: spec.alias}
                key_id = self._create_looking_again(
                    lambda: self._key_tagged(spec.alias),
                    lambda: self._call(
                        "kms",
                        "create_key",
                        once=True,
                        Description=spec.description or spec.alias,
                        Policy=json.dumps(policy),
                        Tags=[{"TagKey": key, "TagValue": value} for key, value in sorted(tags.items())],
                    )["KeyMetadata"]["KeyId"],
                )
            self._call("kms", "create_alias", exists_ok=True, AliasName=f"alias/{spec.alias}", TargetKeyId=key_id)
            info = self.describe_key(spec.alias)
        current = self._call("kms", "get_key_policy", KeyId=info.id, PolicyName="default").get("Policy") or "{}"
        if json.loads(current) != policy:
            self._call("kms", "put_key_policy", KeyId=info.id, PolicyName="default", Policy=json.dumps(policy))
        rotating = bool(self._call("kms", "get_key_rotation_status", KeyId=info.id).get("KeyRotationEnabled"))
        if spec.rotation and not rotating:
            # EnableKeyRotation: a new key material every 365 days by default; old material still decrypts.
            self._call("kms", "enable_key_rotation", KeyId=info.id)
        elif rotating and not spec.rotation:
            self._call("kms", "disable_key_rotation", KeyId=info.id)
        return info

    def key_policy(self) -> dict[str, Any]:
        """The portal's key policy: the account administers through IAM, the portal's role administers the key
        and uses it only through the services that encrypt the portal's data in this region.

        KMS: "Every KMS key must have exactly one key policy"; the default one's "Allows access to the AWS
        account and enables IAM policies" statement (root, ``kms:*``) keeps the key manageable should the
        portal's role go, and lets IAM policies grant use (the replication role's does). ``kms:ViaService``
        limits the portal's own use to RDS, S3 and EKS in the key's region; grants only for AWS resources.
        """
        partition = self._partition()
        portal = {"AWS": self.credentials.role_arn}
        services = [f"{service}.{self.region}.amazonaws.com" for service in KEY_SERVICES]
        return {
            "Version": "2012-10-17",
            "Id": "portal-key-policy",
            "Statement": [
                {
                    "Sid": "AccountAdministersThroughIam",
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:{partition}:iam::{self.account}:root"},
                    "Action": "kms:*",
                    "Resource": "*",
                },
                {
                    "Sid": "PortalAdministers",
                    "Effect": "Allow",
                    "Principal": portal,
                    "Action": KEY_ADMINISTRATION,
                    "Resource": "*",
                },
                {
                    "Sid": "PortalUsesThroughServices",
                    "Effect": "Allow",
                    "Principal": portal,
                    "Action": KEY_USE,
                    "Resource": "*",
                    "Condition": {"StringEquals": {"kms:ViaService": services}},
                },
                {
                    "Sid": "PortalGrantsToServices",
                    "Effect": "Allow",
                    "Principal": portal,
                    "Action": ["kms:CreateGrant", "kms:ListGrants", "kms:RevokeGrant"],
                    "Resource": "*",
                    "Condition": {
                        "StringEquals": {"kms:ViaService": services},
                        "Bool": {"kms:GrantIsForAWSResource": "true"},
                    },
                },
            ],
        }

    def _key_tagged(self, alias: str) -> str | None:
        for key in self._pages("kms", "list_keys", "Keys"):
            metadata = self._call("kms", "describe_key", KeyId=key["KeyId"])["KeyMetadata"]
            if metadata.get("KeyState") in ("PendingDeletion", "PendingReplicaDeletion"):
                continue
            tags = self._call("kms", "list_resource_tags", KeyId=key["KeyId"]).get("Tags", [])
            if any(tag["TagKey"] == ALIAS_TAG and tag["TagValue"] == alias for tag in tags):
                return str(key["KeyId"])
        return None

    def describe_key(self, alias: str) -> KeyInfo:
        """The key behind ``alias/<alias>``, or NotFound."""
        metadata = self._call("kms", "describe_key", KeyId=f"alias/{alias}", resource=alias)["KeyMetadata"]
        tags = self._call("kms", "list_resource_tags", KeyId=metadata["KeyId"]).get("Tags", [])
        return KeyInfo(
            id=metadata["KeyId"],
            arn=metadata["Arn"],
            alias=alias,
            enabled=bool(metadata.get("Enabled")),
            tags={tag["TagKey"]: tag["TagValue"] for tag in tags},
        )

    def delete_key(self, alias: str) -> None:
        """Schedule the key's deletion (7 days, the shortest AWS allows), then drop the alias."""
        try:
            key = self.describe_key(alias)
        except errors.NotFound:
            return
        with contextlib.suppress(errors.Conflict):  # already pending deletion
            self._call("kms", "schedule_key_deletion", KeyId=key.id, PendingWindowInDays=7)
        try:
            self._call("kms", "delete_alias", AliasName=f"alias/{alias}")
        except errors.NotFound:
            return

    # ------------------------------------------------------------ IAM

    def _partition(self) -> str:
        """``aws`` (or ``aws-cn``, ``aws-us-gov``): ARNs the driver writes are in the partition of its role."""
        parts = self.credentials.role_arn.split(":")
        return parts[1] if len(parts) > 1 and parts[0] == "arn" and parts[1] else "aws"

    @staticmethod
    def trust_policy(purpose: str) -> dict[str, Any]:
        """The documented trust policy of a role for ``purpose``: the one service that assumes it."""
        return {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Principal": {"Service": ROLE_SERVICES[purpose]}, "Action": "sts:AssumeRole"}
            ],
        }

    def replication_policy(self, spec: RoleSpec) -> dict[str, Any]:
        """Least privilege for S3 replication from ``source_bucket`` to ``target_bucket`` (the S3 user guide's
        replication role policy, with its SSE-KMS statements when keys are named).

        With S3 Bucket Keys on, the encryption context is the bucket's ARN rather than the object's, so both
        are allowed.
        """
        partition = self._partition()
        source = f"arn:{partition}:s3:::{spec.source_bucket}"
        target = f"arn:{partition}:s3:::{spec.target_bucket}"
        statements: list[dict[str, Any]] = [
            {
                "Sid": "ReadSourceConfiguration",
                "Effect": "Allow",
                "Action": ["s3:GetReplicationConfiguration", "s3:ListBucket"],
                "Resource": [source],
            },
            {
                "Sid": "ReadSourceVersions",
                "Effect": "Allow",
                "Action": ["s3:GetObjectVersionForReplication", "s3:GetObjectVersionAcl", "s3:GetObjectVersionTagging"],
                "Resource": [f"{source}/*"],
            },
            {
                "Sid": "WriteTargetReplicas",
                "Effect": "Allow",
                "Action": ["s3:ReplicateObject", "s3:ReplicateDelete", "s3:ReplicateTags"],
                "Resource": [f"{target}/*"],
            },
        ]
        for sid, key, actions, bucket in (
            ("DecryptSource", spec.source_key, ["kms:Decrypt"], source),
            ("EncryptReplicas", spec.target_key, ["kms:Encrypt", "kms:GenerateDataKey"], target),
        ):
            if not key:
                continue
            region = key.split(":")[3] if key.startswith("arn:") else self.region
            statements.append(
                {
                    "Sid": sid,
                    "Effect": "Allow",
                    "Action": actions,
                    "Resource": [key],
                    "Condition": {
                        "StringLike": {
                            "kms:ViaService": f"s3.{region}.amazonaws.com",
                            "kms:EncryptionContext:aws:s3:arn": [bucket, f"{bucket}/*"],
                        }
                    },
                }
            )
        return {"Version": "2012-10-17", "Statement": statements}

    def ensure_role(self, spec: RoleSpec) -> RoleInfo:
        """Create the IAM role with its trust policy if missing, then attach its managed policies and put its
        inline one; a role of that name the portal did not make (no ``portal:name`` tag) is a ``Conflict``."""
        names.check("iam_role", spec.name)
        trust = self.trust_policy(spec.purpose)
        try:
            role = self._call("iam", "get_role", RoleName=spec.name, resource=spec.name)["Role"]
        except errors.NotFound:
            tags = {**spec.tags, NAME_TAG: spec.name, PURPOSE_TAG: spec.purpose}
            self._call(
                "iam",
                "create_role",
                exists_ok=True,
                resource=spec.name,
                RoleName=spec.name,
                AssumeRolePolicyDocument=json.dumps(trust),
                Description=spec.description or f"Platform portal: {spec.purpose.replace('_', ' ')}",
                Tags=_tag_list(tags),
            )
            role = self._call("iam", "get_role", RoleName=spec.name, resource=spec.name)["Role"]
        if _tag_dict(role.get("Tags")).get(NAME_TAG) != spec.name:
            raise errors.Conflict(
                f"An IAM role named {spec.name} exists and was not made by the portal; it is left as it is.",
                resource=spec.name,
            )
        if role.get("AssumeRolePolicyDocument") != trust:
            self._call("iam", "update_assume_role_policy", RoleName=spec.name, PolicyDocument=json.dumps(trust))
        attached = {
            policy["PolicyArn"]
            for policy in self._pages("iam", "list_attached_role_policies", "AttachedPolicies", RoleName=spec.name)
        }
        for policy_name in ROLE_MANAGED_POLICIES[spec.purpose]:
            arn = f"arn:{self._partition()}:iam::aws:policy/{policy_name}"
            if arn not in attached:
                self._call("iam", "attach_role_policy", RoleName=spec.name, PolicyArn=arn)
        if spec.purpose == "bucket_replication":
            self._call(
                "iam",
                "put_role_policy",
                RoleName=spec.name,
                PolicyName=REPLICATION_POLICY,
                PolicyDocument=json.dumps(self.replication_policy(spec)),
            )
        return self._role_info(role)

    @staticmethod
    def _role_info(role: dict[str, Any]) -> RoleInfo:
        tags = _tag_dict(role.get("Tags"))
        return RoleInfo(
            name=role["RoleName"],
            arn=role["Arn"],
            purpose=tags.get(PURPOSE_TAG, ""),
            created_at=role.get("CreateDate"),
            tags=tags,
        )

    def describe_role(self, name: str) -> RoleInfo:
        """The IAM role of this name, or NotFound."""
        return self._role_info(self._call("iam", "get_role", RoleName=name, resource=name)["Role"])

    def delete_role(self, name: str) -> None:
        """Detach its managed policies, delete its inline ones, take it out of instance profiles, then delete it.

        DeleteRole: "you must first remove those items" (inline policies, attached managed policies, instance
        profiles). A role the portal did not make is left alone; a missing one is already deleted.
        """
        try:
            role = self._call("iam", "get_role", RoleName=name, resource=name)["Role"]
        except errors.NotFound:
            return
        if _tag_dict(role.get("Tags")).get(NAME_TAG) != name:
            return
        with contextlib.suppress(errors.NotFound):
            for policy in self._pages("iam", "list_attached_role_policies", "AttachedPolicies", RoleName=name):
                self._call("iam", "detach_role_policy", RoleName=name, PolicyArn=policy["PolicyArn"])
            for policy_name in self._pages("iam", "list_role_policies", "PolicyNames", RoleName=name):
                self._call("iam", "delete_role_policy", RoleName=name, PolicyName=policy_name)
            for profile in self._pages("iam", "list_instance_profiles_for_role", "InstanceProfiles", RoleName=name):
                self._call(
                    "iam",
                    "remove_role_from_instance_profile",
                    RoleName=name,
                    InstanceProfileName=profile["InstanceProfileName"],
                )
            self._call("iam", "delete_role", RoleName=name, resource=name)

    # ------------------------------------------------------------ Cost Explorer

    def fetch_costs(self, start: date, end: date, group_by_tags: Sequence[str] = ()) -> list[CostLineItem]:
        """Daily unblended cost from Cost Explorer, grouped by service and the tag (or by region with no tag)."""
        return self.cost_report(start, end, group_by_tags).items

    def cost_report(self, start: date, end: date, group_by_tags: Sequence[str] = ()) -> CostReport:
        """Daily unblended (billed) and amortised (effective) cost, grouped by service and the tag (or region).

        Cost Explorer groups by at most two keys, so at most one tag can be
        asked for; the line items then carry no region (``""``). Every page is
        one request; AWS charges for each, so they are counted (a throttled
        try that was answered with an error counts as well).
        """
        if len(group_by_tags) > 1:
            raise errors.InvalidRequest("Cost Explorer groups by service and at most one tag")
        second = {"Type": "TAG", "Key": group_by_tags[0]} if group_by_tags else {"Type": "DIMENSION", "Key": "REGION"}
        params: dict[str, Any] = {
            "TimePeriod": {"Start": start.isoformat(), "End": end.isoformat()},
            "Granularity": "DAILY",
            "Metrics": [COST_METRIC, EFFECTIVE_METRIC],
            "GroupBy": [{"Type": "DIMENSION", "Key": "SERVICE"}, second],
        }
        items: list[CostLineItem] = []
        requests = 0

        def count(**_: Any) -> None:
            nonlocal requests
            requests += 1  # every HTTP try, botocore's own retries included: each is billed

        events = self.client("ce", "us-east-1").meta.events
        events.register("before-send.ce.GetCostAndUsage", count, unique_id="portal-cost-requests")
        try:
            return self._cost_pages(params, group_by_tags, items, lambda: requests)
        finally:
            events.unregister("before-send.ce.GetCostAndUsage", unique_id="portal-cost-requests")

    def _cost_pages(
        self,
        params: dict[str, Any],
        group_by_tags: Sequence[str],
        items: list[CostLineItem],
        requests: Callable[[], int],
    ) -> CostReport:
        while True:
            answer = self._call("ce", "get_cost_and_usage", region="us-east-1", **params)
            for period in answer.get("ResultsByTime", []):
                usage_date = date.fromisoformat(period["TimePeriod"]["Start"])
                for group in period.get("Groups", []):
                    service, other = (group["Keys"] + ["", ""])[:2]
                    metric = group["Metrics"][COST_METRIC]
                    amortised = group["Metrics"].get(EFFECTIVE_METRIC)
                    tags = {group_by_tags[0]: other.partition("$")[2]} if group_by_tags else {}
                    items.append(
                        CostLineItem(
                            usage_date=usage_date,
                            service=service,
                            region="" if group_by_tags else other,
                            account=self.account,
                            tags=tags,
                            amount=Decimal(str(metric["Amount"])),
                            currency=str(metric.get("Unit", "USD")),
                            usage_type="",
                            charge_type="Usage",
                            effective_amount=Decimal(str(amortised["Amount"])) if amortised else None,
                        )
                    )
            token = answer.get("NextPageToken")
            if not token:
                return CostReport(items, requests())
            params["NextPageToken"] = token
