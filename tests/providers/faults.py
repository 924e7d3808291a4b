"""Faults injected between a cloud driver and the cloud it talks to (moto for AWS, the in-memory Azure of
``azure_fake``), at random calls chosen by a seeded generator, so a failing run can be replayed exactly.

What a fault is, on each cloud (the driver sees it as it would see the real cloud's answer):

- **throttled**: AWS ``Throttling`` / ``ThrottlingException`` (EC2 ``RequestLimitExceeded``, S3 ``SlowDown``);
  Azure 429 ``TooManyRequests`` with ``Retry-After``;
- **unavailable**: a 500 or 503 (``InternalFailure``, ``ServiceUnavailable``; Azure ``InternalServerError``,
  ``ServiceUnavailable``);
- **busy**: "another operation is in progress", on writes only and only where the service has such an
  answer: RDS ``InvalidDBInstanceState``, EKS ``ResourceInUseException``, ElastiCache
  ``InvalidReplicationGroupState``, S3 ``OperationAborted``; Azure 409 ``AnotherOperationInProgress``.

A fault on a write lands at random **before** the cloud saw the request (nothing happened) or **after** the
cloud did the work and the answer was lost (a timeout, a reset connection, a 5xx from a proxy): the second kind
is where duplicates come from, when a driver sends a create again without looking.

``Faults.kill_at`` makes one call the place where the worker dies (:class:`WorkerKilled`, a
``BaseException`` that no ``except Exception`` catches), before or after the cloud did the work; the test
then lets the run's lease expire and resumes it in another "worker", as a killed Celery worker's successor does.

AWS faults go through botocore's ``before-call`` hook, registered with :meth:`AwsCloudDriver.on`: a fault
before the cloud is an error response returned instead of sending; a fault after it is the real answer,
replaced by an error in ``after-call``. Azure faults wrap the fake's request handler, under the SDK's
transport.

Inventories (:func:`aws_inventory`, :func:`azure_inventory`) count what the portal made in the cloud by its
``portal:name`` tag (or the cloud's own unique name), so a test can assert exactly one of each.
"""

from __future__ import annotations

import contextlib
import copy
import random
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlparse

from botocore.awsrequest import AWSResponse

from providers.aws.cloud import ALIAS_TAG, NAME_TAG, AwsCloudDriver
from tests.providers.azure_fake import Answer, FakeAzure, json_answer

THROTTLED, UNAVAILABLE, BUSY = "throttled", "unavailable", "busy"
KINDS = (THROTTLED, UNAVAILABLE, BUSY)
BEFORE, AFTER = "before", "after"
READ_PREFIXES = ("Describe", "List", "Get", "Head")


class WorkerKilled(BaseException):
    """The worker process dies here: nothing after this point of the step runs, nothing more is saved."""


@dataclass(frozen=True)
class Injected:
    """One fault as it was injected: the call (``ec2.CreateVpc``, ``PUT Microsoft.Cache/redis``), its kind,
    whether the cloud had done the work, and the code answered."""

    call: str
    kind: str
    when: str
    code: str


@dataclass
class Kill:
    matches: Callable[[str], bool]
    when: str
    done: bool = False


@dataclass
class Faults:
    """The fault plan shared by every driver of a test: ``probability`` per call, drawn from ``Random(seed)``.

    ``log`` keeps every fault injected, in order: the same seed against the same calls gives the same log.
    """

    seed: int
    probability: float = 0.3
    kinds: tuple[str, ...] = KINDS
    log: list[Injected] = field(default_factory=list)
    calls: int = 0
    enabled: bool = True
    kill: Kill | None = None
    scripted: list[tuple[str, str, str]] = field(default_factory=list)
    refusals: dict[str, tuple[str, int, str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.random = random.Random(self.seed)  # noqa: S311 (a replayable test, not a secret)

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        """No faults meanwhile (setting a scene up, looking at the result)."""
        was, self.enabled = self.enabled, False
        try:
            yield
        finally:
            self.enabled = was

    def once(self, call: str, kind: str = UNAVAILABLE, when: str = AFTER) -> None:
        """Fail the next call named ``call`` so, whatever the dice say (scripted faults come before random ones)."""
        self.scripted.append((call, kind, when))

    def refuse(self, call: str, code: str, status: int, message: str) -> None:
        """Refuse every call named ``call`` with this error, as a cloud refuses what it will never do."""
        self.refusals[call] = (code, status, message)

    def kill_at(self, call: str | Callable[[str], bool], when: str = AFTER) -> None:
        """Kill the worker at the next call named ``call`` (or matching it), before or after the cloud did it."""
        matches = call if callable(call) else (lambda name: name == call)
        self.kill = Kill(matches, when)

    def killed(self) -> bool:
        return self.kill is not None and self.kill.done

    def die_if_killed_at(self, call: str, when: str) -> None:
        """Raise :class:`WorkerKilled` if this call, at this moment, is where the worker is to die."""
        kill = self.kill
        if kill is not None and not kill.done and kill.when == when and kill.matches(call):
            kill.done = True
            raise WorkerKilled(f"killed {when} {call}")

    def choose(self, call: str, *, write: bool, busy_possible: bool) -> tuple[str, str] | None:
        """The fault for this call, if one is drawn: (kind, before/after)."""
        if not self.enabled:
            return None
        for index, (scripted, kind, when) in enumerate(self.scripted):
            if scripted == call:
                del self.scripted[index]
                return kind, when
        self.calls += 1
        if self.random.random() >= self.probability:
            return None
        kinds = [kind for kind in self.kinds if kind != BUSY or (write and busy_possible)]
        kind = self.random.choice(kinds or [UNAVAILABLE])
        when = AFTER if write and self.random.random() < 0.5 else BEFORE
        return kind, when


# ---------------------------------------------------------------- AWS (botocore hooks on the driver)

# (code, HTTP status) per fault kind; the codes each service answers with (their API references' error lists).
_AWS_THROTTLE = {"ec2": ("RequestLimitExceeded", 503), "s3": ("SlowDown", 503)}
_AWS_THROTTLE_BY_PROTOCOL = {"query": ("Throttling", 400)}
_AWS_UNAVAILABLE = (("InternalFailure", 500), ("ServiceUnavailable", 503))
_AWS_BUSY = {
    "rds": ("InvalidDBInstanceState", 400, "The DB instance is not in the available state (backing-up)."),
    "eks": ("ResourceInUseException", 409, "The cluster is currently being updated."),
    "elasticache": ("InvalidReplicationGroupState", 400, "Replication group is not in available state (modifying)."),
    "s3": ("OperationAborted", 409, "A conflicting conditional operation is currently in progress."),
}
# Operations that take an EC2 ClientToken. "If you retry a request that completed successfully using the same
# client token and the same parameters, the retry succeeds without performing any further actions" (Amazon EC2
# API reference, "Ensuring idempotency"); moto ignores the token, so the harness answers such a retry as EC2 does.
_CLIENT_TOKEN = "ClientToken"


def _aws_error(model: Any, kind: str, rng: random.Random) -> tuple[str, int, str]:
    service = model.service_model.service_name
    if kind == THROTTLED:
        protocol = model.service_model.metadata.get("protocol", "")
        code, status = _AWS_THROTTLE.get(service) or _AWS_THROTTLE_BY_PROTOCOL.get(
            protocol, ("ThrottlingException", 400)
        )
        return code, status, "Rate exceeded"
    if kind == BUSY:
        return _AWS_BUSY[service]
    code, status = rng.choice(_AWS_UNAVAILABLE)
    if service in ("ec2", "s3") and code == "InternalFailure":
        code = "InternalError"
    return code, status, "We encountered an internal error. Please try again."


def _aws_error_answer(code: str, status: int, message: str) -> dict[str, Any]:
    return {
        "Error": {"Code": code, "Message": message},
        "ResponseMetadata": {"HTTPStatusCode": status, "HTTPHeaders": {}, "RetryAttempts": 0},
    }


def inject_aws(driver: AwsCloudDriver, faults: Faults) -> None:
    """Put ``faults`` between ``driver`` and AWS (every client it has or makes)."""
    answered: dict[tuple[str, str], dict[str, Any]] = {}  # (operation, client token) → EC2's first answer

    def before_call(model: Any, params: dict[str, Any], context: dict[str, Any], **_: Any) -> Any:
        service = model.service_model.service_name
        call = f"{service}.{model.name}"
        token = params.get("body", {}).get(_CLIENT_TOKEN) if isinstance(params.get("body"), dict) else None
        if token and (call, token) in answered:
            return AWSResponse(params.get("url", ""), 200, {}, None), copy.deepcopy(answered[(call, token)])
        if token:
            context["portal_client_token"] = (call, token)
        faults.die_if_killed_at(call, BEFORE)
        if call in faults.refusals and faults.enabled:
            return AWSResponse(params.get("url", ""), faults.refusals[call][1], {}, None), _aws_error_answer(
                *faults.refusals[call]
            )
        write = not model.name.startswith(READ_PREFIXES)
        chosen = faults.choose(call, write=write, busy_possible=service in _AWS_BUSY)
        if chosen is None:
            return None
        kind, when = chosen
        code, status, message = _aws_error(model, kind, faults.random)
        faults.log.append(Injected(call, kind, when, code))
        if when == AFTER:
            context["portal_fault"] = (code, status, message)
            return None
        return AWSResponse(params.get("url", ""), status, {}, None), _aws_error_answer(code, status, message)

    def after_call(model: Any, http_response: Any, parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        call = f"{model.service_model.service_name}.{model.name}"
        token = context.get("portal_client_token")
        if token and http_response.status_code < 300:
            answered[token] = copy.deepcopy(parsed)
        faults.die_if_killed_at(call, AFTER)
        fault = context.pop("portal_fault", None)
        if fault is None:
            return
        code, status, message = fault
        # The cloud did it; the answer is lost on the way back.
        parsed.clear()
        parsed.update(_aws_error_answer(code, status, message))
        http_response.status_code = status

    driver.on("before-call", before_call)
    driver.on("after-call", after_call)


def aws_inventory(driver_in: Callable[[str], AwsCloudDriver], regions: Iterable[str]) -> Counter[tuple[str, str, str]]:
    """What the portal made in these regions, as (region, kind, name) → how many: VPC parts by their
    ``portal:name`` (subnets and route tables by their ``Name``), EKS clusters and node groups, RDS instances,
    ElastiCache replication groups, S3 buckets and live KMS keys by their alias tag. Deleted or deleting
    resources (a NAT gateway ``deleted``, a key pending deletion) are not counted."""
    found: Counter[tuple[str, str, str]] = Counter()
    for region in regions:
        driver = driver_in(region)
        ec2 = driver.client("ec2")
        tagged = [{"Name": "tag-key", "Values": [NAME_TAG]}]

        def named(item: dict[str, Any], key: str = NAME_TAG) -> str:
            return next((tag["Value"] for tag in item.get("Tags", []) if tag["Key"] == key), "")

        for vpc in ec2.describe_vpcs(Filters=tagged)["Vpcs"]:
            found[(region, "vpc", named(vpc))] += 1
        for subnet in ec2.describe_subnets(Filters=tagged)["Subnets"]:
            found[(region, "subnet", named(subnet, "Name"))] += 1
        for gateway in ec2.describe_internet_gateways(Filters=tagged)["InternetGateways"]:
            found[(region, "internet-gateway", named(gateway))] += 1
        for address in ec2.describe_addresses(Filters=tagged)["Addresses"]:
            found[(region, "elastic-ip", named(address))] += 1
        for gateway in ec2.describe_nat_gateways(Filter=tagged)["NatGateways"]:
            if gateway["State"] in ("pending", "available"):
                found[(region, "nat-gateway", named(gateway))] += 1
        for table in ec2.describe_route_tables(Filters=tagged)["RouteTables"]:
            found[(region, "route-table", named(table, "Name"))] += 1
        eks = driver.client("eks")
        for cluster in eks.list_clusters()["clusters"]:
            found[(region, "eks-cluster", cluster)] += 1
            for group in eks.list_nodegroups(clusterName=cluster)["nodegroups"]:
                found[(region, "eks-nodegroup", f"{cluster}/{group}")] += 1
        for instance in driver.client("rds").describe_db_instances()["DBInstances"]:
            if instance["DBInstanceStatus"] != "deleting":
                found[(region, "rds-instance", instance["DBInstanceIdentifier"])] += 1
        for group in driver.client("elasticache").describe_replication_groups()["ReplicationGroups"]:
            if group["Status"] != "deleting":
                found[(region, "elasticache", group["ReplicationGroupId"])] += 1
        s3 = driver.client("s3")
        for bucket in s3.list_buckets()["Buckets"]:
            location = s3.get_bucket_location(Bucket=bucket["Name"]).get("LocationConstraint") or "us-east-1"
            if location == region:
                found[(region, "s3-bucket", bucket["Name"])] += 1
        kms = driver.client("kms")
        for key in kms.list_keys()["Keys"]:
            if kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"]["KeyState"] == "PendingDeletion":
                continue
            tags = {tag["TagKey"]: tag["TagValue"] for tag in kms.list_resource_tags(KeyId=key["KeyId"])["Tags"]}
            if ALIAS_TAG in tags:  # the portal's keys carry it from their CreateKey on (moto makes keys of its own)
                found[(region, "kms-key", tags[ALIAS_TAG])] += 1
    return found


# ---------------------------------------------------------------- Azure (the fake's request handler)

_AZURE_ANSWERS = {
    THROTTLED: ((429, "TooManyRequests", "The request is being throttled."),),
    UNAVAILABLE: (
        (500, "InternalServerError", "The server encountered an internal error. Please retry the request."),
        (503, "ServiceUnavailable", "The service is temporarily unavailable. Please retry the request."),
    ),
    BUSY: (
        (
            409,
            "AnotherOperationInProgress",
            "Another operation on this or dependent resource is in progress. To retry later, wait for the "
            "operation to finish.",
        ),
    ),
}
_WRITES = ("PUT", "PATCH", "DELETE")


def azure_call(method: str, url: str) -> str:
    """A request as the harness names it: ``PUT Microsoft.Cache/redis``, ``GET operation``, ``DELETE vault key``."""
    parsed = urlparse(url)
    path = unquote(parsed.path)
    if parsed.hostname and parsed.hostname.endswith(".vault.azure.net"):
        return f"{method} vault {path.strip('/').split('/')[0]}"
    if "/fakeOperations/" in path:
        return f"{method} operation"
    if "/providers/" not in path:
        return f"{method} resourceGroups"
    segments = path.split("/providers/", 1)[1].split("/")
    return f"{method} {'/'.join([segments[0], *segments[1::2]])}"


def inject_azure(fake: FakeAzure, faults: Faults) -> None:
    """Put ``faults`` between every driver on ``fake`` and the fake (what its transport hands over)."""
    handle = fake.handle

    def answer(kind: str, call: str, when: str) -> Answer:
        status, code, message = faults.random.choice(_AZURE_ANSWERS[kind])
        faults.log.append(Injected(call, kind, when, code))
        headers = {"Retry-After": "1"} if status == 429 else {}
        return json_answer(status, {"error": {"code": code, "message": message}}, **headers)

    def faulty(request: Any) -> Answer:
        host = urlparse(request.url).hostname or ""
        if host == "login.microsoftonline.com":
            return handle(request)
        call = azure_call(request.method, request.url)
        faults.die_if_killed_at(call, BEFORE)
        if call in faults.refusals and faults.enabled:
            code, status, message = faults.refusals[call]
            return json_answer(status, {"error": {"code": code, "message": message}})
        arm = host == "management.azure.com"
        write = request.method in _WRITES
        chosen = faults.choose(call, write=write, busy_possible=arm)
        if chosen is not None and chosen[1] == BEFORE:
            return answer(chosen[0], call, BEFORE)
        result = handle(request)
        faults.die_if_killed_at(call, AFTER)
        if chosen is not None:
            return answer(chosen[0], call, AFTER)  # the fake did it; the answer is lost
        return result

    fake.handle = faulty  # type: ignore[method-assign]


def azure_inventory(fake: FakeAzure) -> Counter[tuple[str, str, str]]:
    """What the fake holds, as (location, type, name) → how many: each resource by its ``portal:name`` tag when it
    has one, else by its name under its parent (``aks-x/gpu``). A global resource (a private DNS zone) is placed
    by its resource group: each region's group holds its own zone of the same name."""
    found: Counter[tuple[str, str, str]] = Counter()
    for resource in fake.resources.values():
        name = (resource.get("tags") or {}).get(NAME_TAG)
        if not name:  # a child: its parents' names and its own (a subnet "network/private-0-zone-1")
            name = "/".join(resource["id"].split("/providers/", 1)[1].split("/")[2::2])
        where = resource.get("location", "")
        if where == "global":
            where = f"global in {resource['id'].split('/')[4]}"
        found[(where, resource["type"], name)] += 1
    return found
