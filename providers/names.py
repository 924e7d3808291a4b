"""The names clouds accept, as their documentation states them, and names built to fit them.

Plans build names from things people choose (environment and team names,
region codes), so a name can be longer, or shaped otherwise, than a cloud
allows. :func:`fit` makes a name of the portal's usual shape (lower-case
letters, digits and single hyphens, starting with a letter) within a length:
a name already within it is kept as it is, a longer one keeps its start and
ends with a digest of the whole, so two long names never meet. Drivers
check the names they are given against the :data:`RULES` of the kind
(:func:`check`) and refuse a name that breaks them before sending anything.

Some names are unique across a whole cloud, not only within an account (S3
buckets; Azure PostgreSQL servers, Redis caches, storage accounts, key
vaults): plans put the installation's id (``PORTAL_INSTALLATION_ID``) in
those, so two portals never claim the same name.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from providers.errors import InvalidRequest

# Lower-case letters and digits in groups joined by single hyphens, starting with a letter.
PORTAL_SHAPE = r"[a-z](?:-?[a-z0-9])*"
DIGEST_LENGTH = 8


@dataclass(frozen=True)
class NameRule:
    """One kind of name: its length, the pattern it must match in full, and what the cloud's reference says."""

    what: str
    min_length: int
    max_length: int
    pattern: str
    says: str
    global_: bool = False  # unique across the whole cloud, not only within one account

    def problem(self, name: str) -> str:
        """Why ``name`` cannot be this kind of name, or ``""`` when it can."""
        if not self.min_length <= len(name) <= self.max_length:
            return f"{self.what} names are {self.min_length} to {self.max_length} characters long"
        if not re.fullmatch(self.pattern, name):
            return f"{self.what} names: {self.says}"
        return ""


RULES: dict[str, NameRule] = {
    # CreateDBInstance, DBInstanceIdentifier: "Must contain from 1 to 63 letters, numbers, or hyphens. First
    # character must be a letter. Can't end with a hyphen or contain two consecutive hyphens."
    "rds_instance": NameRule(
        "RDS instance",
        1,
        63,
        r"[A-Za-z](?:-?[A-Za-z0-9])*",
        "letters, digits and single hyphens, starting with a letter and not ending with a hyphen",
    ),
    # CreateReplicationGroup, ReplicationGroupId: "A name must contain from 1 to 40 alphanumeric characters or
    # hyphens. The first character must be a letter. A name cannot end with a hyphen or contain two consecutive
    # hyphens."
    "elasticache_replication_group": NameRule(
        "ElastiCache replication group",
        1,
        40,
        r"[A-Za-z](?:-?[A-Za-z0-9])*",
        "letters, digits and single hyphens, starting with a letter and not ending with a hyphen",
    ),
    # S3 general purpose bucket naming rules: 3 to 63 characters; lower-case letters, numbers, dots and hyphens;
    # begin and end with a letter or number; not the prefixes xn--, sthree-, amzn-s3-demo- nor the suffixes
    # -s3alias, --ol-s3, .mrap, --x-s3, --table-s3. Bucket names are unique across all of AWS. (The portal
    # never uses dots: they break virtual-hosted TLS.)
    "s3_bucket": NameRule(
        "S3 bucket",
        3,
        63,
        r"(?!xn--|sthree-|amzn-s3-demo-)[a-z0-9][a-z0-9-]*[a-z0-9](?<!-s3alias)(?<!--ol-s3)(?<!--x-s3)(?<!--table-s3)",
        "lower-case letters, digits and hyphens, starting and ending with a letter or digit",
        global_=True,
    ),
    # IAM CreateRole, RoleName: 1 to 64 characters, pattern "[\w+=,.@-]+"; unique within the account (IAM is
    # global: one name serves every region of the account, so the portal's role names carry the region too).
    "iam_role": NameRule("IAM role", 1, 64, r"[\w+=,.@-]+", "letters, digits and the characters + = , . @ _ -"),
    # CreateCluster, name: 1 to 100 characters, "^[0-9A-Za-z][A-Za-z0-9\-_]*".
    "eks_cluster": NameRule(
        "EKS cluster", 1, 100, r"[0-9A-Za-z][A-Za-z0-9_-]*", "letters, digits, hyphens and underscores"
    ),
    # Microsoft.DBforPostgreSQL/flexibleServers: 3 to 63 characters, lower-case letters, numbers and hyphens,
    # not starting or ending with a hyphen; the name is the server's DNS name, unique across Azure.
    "postgresql_server": NameRule(
        "Azure PostgreSQL server",
        3,
        63,
        r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?",
        "lower-case letters, digits and hyphens, not starting or ending with a hyphen",
        global_=True,
    ),
    # Microsoft.Cache/redis: 1 to 63 characters, alphanumerics and hyphens, starting and ending with an
    # alphanumeric, no consecutive hyphens; unique across Azure (<name>.redis.cache.windows.net).
    "redis_cache": NameRule(
        "Azure Cache for Redis",
        1,
        63,
        r"[A-Za-z0-9](?:-?[A-Za-z0-9])*",
        "letters, digits and single hyphens, starting and ending with a letter or digit",
        global_=True,
    ),
    # Microsoft.Storage/storageAccounts: 3 to 24 lower-case letters and numbers, unique across Azure.
    "storage_account": NameRule(
        "Azure storage account", 3, 24, r"[a-z0-9]+", "lower-case letters and digits only", global_=True
    ),
    # Blob containers: 3 to 63 characters, lower-case letters, numbers and hyphens, starting with a letter or
    # number, every hyphen between a letter or number.
    "blob_container": NameRule(
        "blob container", 3, 63, r"[a-z0-9](?:-?[a-z0-9])*", "lower-case letters, digits and single hyphens"
    ),
    # Microsoft.ContainerService/managedClusters: "^[a-zA-Z0-9]$|^[a-zA-Z0-9][-_a-zA-Z0-9]{0,61}[a-zA-Z0-9]$".
    "aks_cluster": NameRule(
        "AKS cluster",
        1,
        63,
        r"[a-zA-Z0-9]|[a-zA-Z0-9][-_a-zA-Z0-9]{0,61}[a-zA-Z0-9]",
        "letters, digits, hyphens and underscores, starting and ending with a letter or digit",
    ),
    # Microsoft.KeyVault/vaults: 3 to 24 characters, alphanumerics and hyphens, starting with a letter, ending
    # with a letter or digit, no consecutive hyphens; unique across Azure.
    "key_vault": NameRule(
        "Azure key vault",
        3,
        24,
        r"[A-Za-z](?:-?[A-Za-z0-9])*",
        "letters, digits and single hyphens, starting with a letter",
        global_=True,
    ),
}


def digest(*parts: str, length: int = DIGEST_LENGTH) -> str:
    """A short, stable hexadecimal digest of ``parts``."""
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()[:length]


def fit(text: str, max_length: int) -> str:
    """``text`` as a name of the portal's shape, at most ``max_length`` characters, the same on every run.

    Other characters become hyphens, runs of hyphens one, and a name that does
    not start with a letter gets a ``p`` in front. A name already of that
    shape and length is returned unchanged; a longer one keeps its start and
    ends with a digest of the whole.
    """
    name = re.sub(r"-{2,}", "-", re.sub(r"[^a-z0-9-]+", "-", text.lower())).strip("-")
    if not name or not name[0].isalpha():
        name = f"p-{name}".rstrip("-")
    if len(name) <= max_length:
        return name
    keep = max_length - DIGEST_LENGTH - 1
    return f"{name[:keep].rstrip('-')}-{digest(name)}"


def check(kind: str, name: str) -> str:
    """``name`` if it is a valid name of ``kind``; else :class:`~providers.errors.InvalidRequest` saying why."""
    problem = RULES[kind].problem(name)
    if problem:
        raise InvalidRequest(f'"{name}" cannot be used: {problem}.', resource=name)
    return name
