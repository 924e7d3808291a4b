"""The AWS permissions pre-flight: may the role the portal assumes do what the shipped IAM policy lists?

In order:

1. STS ``AssumeRole`` (the driver's session) and ``GetCallerIdentity``: a
   role that cannot be assumed (wrong ARN, a trust policy that does not name
   the portal's identity, a wrong external id) or that answers for another
   account stops the check with a message saying which.
2. IAM ``SimulatePrincipalPolicy`` on the role's ARN for every action of
   ``providers/policies/aws-portal-policy.json``. The simulation "does not
   perform the API operations; it only checks the authorization" and includes
   every policy attached to the role; each result's ``EvalDecision`` is
   ``allowed``, ``explicitDeny`` or ``implicitDeny``. Results come in pages
   (``IsTruncated`` / ``Marker``). The role needs
   ``iam:SimulatePrincipalPolicy`` itself, which the shipped policy holds.
3. When the simulation is refused, read-only probes and EC2 dry runs: "If you
   have the required permissions, the error response is DryRunOperation.
   Otherwise, it is UnauthorizedOperation." These show only what they touch,
   so the check then fails with the simulation permission listed as missing.

Nothing is created: EC2 dry runs stop before acting, the rest only reads.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from providers import errors
from providers.access import AccessCheck, MissingGrant, aws_actions, aws_grant
from providers.aws.errors import translate

if TYPE_CHECKING:
    from providers.aws.cloud import AwsCloudDriver

SIMULATE = "iam:SimulatePrincipalPolicy"
DENIED_CODES = frozenset(
    {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "UnauthorizedException", "AuthFailure"}
)
# Read-only probes (action, service, operation, parameters) used when the simulation is refused.
PROBES: tuple[tuple[str, str, str, dict[str, Any]], ...] = (
    ("ec2:DescribeAvailabilityZones", "ec2", "describe_availability_zones", {}),
    ("ec2:DescribeVpcs", "ec2", "describe_vpcs", {"MaxResults": 5}),
    ("eks:ListClusters", "eks", "list_clusters", {"maxResults": 1}),
    ("rds:DescribeDBInstances", "rds", "describe_db_instances", {"MaxRecords": 20}),
    ("elasticache:DescribeReplicationGroups", "elasticache", "describe_replication_groups", {"MaxRecords": 20}),
    ("kms:ListKeys", "kms", "list_keys", {"Limit": 1}),
    ("s3:ListAllMyBuckets", "s3", "list_buckets", {}),
)
# EC2 writes tried with DryRun=True: nothing is created either way.
DRY_RUNS: tuple[tuple[str, str, dict[str, Any]], ...] = (
    ("ec2:CreateVpc", "create_vpc", {"CidrBlock": "10.255.0.0/16"}),
    ("ec2:CreateInternetGateway", "create_internet_gateway", {}),
    ("ec2:AllocateAddress", "allocate_address", {"Domain": "vpc"}),
    (
        "ec2:CreateSecurityGroup",
        "create_security_group",
        {"GroupName": "platform-portal-preflight", "Description": "Platform Portal permissions pre-flight"},
    ),
)


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def check_access(driver: AwsCloudDriver) -> AccessCheck:
    """The pre-flight of ``driver``'s role; see the module docstring.

    Raises :class:`~providers.errors.ProviderError` only when AWS could not
    be asked (throttled, unavailable); a refusal is an answer, not an error.
    """
    role = driver.credentials.role_arn
    try:
        identity = driver._call("sts", "get_caller_identity")
    except errors.PermissionDenied as error:
        external = (
            "the STS external id the account gives matches the one in the role's trust policy"
            if driver.credentials.external_id
            else "the role's trust policy does not require an external id (the account gives none)"
        )
        return AccessCheck(
            ok=False,
            method="identity",
            summary=(
                f"The portal could not assume the role {role}: AWS said {error.message!r}. Check that the role exists, "
                f"that its trust policy allows the portal's own identity to call sts:AssumeRole, and that {external}."
            ),
            missing=(
                MissingGrant(
                    "sts:AssumeRole",
                    f"Trust the portal's identity in {role}'s trust policy (with the account's external id, if any).",
                ),
            ),
        )
    arn = str(identity.get("Arn", ""))
    account = str(identity.get("Account", ""))
    if driver.account and account and account != driver.account:
        return AccessCheck(
            ok=False,
            method="identity",
            identity=arn,
            summary=(
                f"The role answers as account {account}, but the portal has it as account {driver.account}: "
                "correct the account id or the role ARN."
            ),
        )
    needed = aws_actions()
    try:
        decisions = _simulate(driver, role, needed)
    except errors.PermissionDenied:
        return _probe(driver, arn, needed)
    missing = tuple(
        MissingGrant(action, aws_grant(action)) for action in needed if decisions.get(action.lower()) != "allowed"
    )
    return AccessCheck(
        ok=not missing,
        method="simulation",
        identity=arn,
        checked=len(needed),
        missing=missing,
        summary=(
            f"IAM's policy simulation of {role}: all {len(needed)} actions the portal uses are allowed."
            if not missing
            else f"IAM's policy simulation of {role}: {len(missing)} of {len(needed)} actions the portal uses "
            "are not allowed."
        ),
    )


def _simulate(driver: AwsCloudDriver, role: str, actions: tuple[str, ...]) -> dict[str, str]:
    """Each action's ``EvalDecision`` (by lower-cased action name), across the simulation's pages."""
    results = driver._pages(
        "iam", "simulate_principal_policy", "EvaluationResults", PolicySourceArn=role, ActionNames=list(actions)
    )
    return {str(result["EvalActionName"]).lower(): str(result["EvalDecision"]) for result in results}


def _attempt(call: Callable[[], Any], *, allowed_codes: frozenset[str] = frozenset()) -> bool:
    """Whether a probe was allowed: it answered, or failed with one of ``allowed_codes``; denied codes are False."""
    try:
        call()
    except ClientError as error:
        code = _code(error)
        if code in allowed_codes:
            return True
        if code in DENIED_CODES or code.startswith("AccessDenied"):
            return False
        raise translate(error) from error
    except BotoCoreError as error:
        raise translate(error) from error
    return True


def _probe(driver: AwsCloudDriver, arn: str, needed: tuple[str, ...]) -> AccessCheck:
    """Read-only probes and EC2 dry runs, when the role may not simulate its own policy."""
    denied = [SIMULATE]
    for action, service, operation, params in PROBES:
        if not _attempt(partial(getattr(driver.client(service), operation), **params)):
            denied.append(action)
    ec2 = driver.client("ec2")
    for action, operation, params in DRY_RUNS:
        call = partial(getattr(ec2, operation), DryRun=True, **params)
        if not _attempt(call, allowed_codes=frozenset({"DryRunOperation"})):
            denied.append(action)
    checked = 1 + len(PROBES) + len(DRY_RUNS)
    return AccessCheck(
        ok=False,
        method="probes",
        identity=arn,
        checked=checked,
        missing=tuple(MissingGrant(action, aws_grant(action)) for action in denied),
        summary=(
            f"The role may not simulate its own policy ({SIMULATE}), so only {checked - 1} read-only calls and EC2 "
            f"dry runs were tried, of the {len(needed)} actions the portal uses; {len(denied) - 1} of them were "
            f"refused. Allow {SIMULATE} for a complete check."
        ),
    )
