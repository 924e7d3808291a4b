"""Two cloud drivers behind one harness: the sandbox, and the AWS driver talking HTTP to a moto server.

The contract suite asks the harness, not the driver, for what only a test
needs: making the next calls of a step fail, putting an object, counting
resources by their portal tag, and seeding Cost Explorer (moto answers
``GetCostAndUsage`` only with results queued through its API).
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests
from botocore.exceptions import ClientError
from moto.server import ThreadedMotoServer

from providers import errors
from providers.aws.cloud import ALIAS_TAG, NAME_TAG, AwsCloudDriver
from providers.cloud import AwsCredentials
from providers.retry import RetryPolicy
from providers.sandbox.cloud import SandboxCloudDriver

REGION = "eu-west-1"
DR_REGION = "eu-central-1"
ACCOUNT = "123456789012"
# Three tries, no waiting: the suite checks that retries happen, not how long they take.
TEST_RETRIES = RetryPolicy(attempts=3, base_seconds=0, cap_seconds=0)

# The neutral step names the suite uses, and the AWS operation each one is.
AWS_OPERATIONS = {
    "create_subnet": "ec2.CreateSubnet",
    "create_nat_gateway": "ec2.CreateNatGateway",
    "create_bucket": "s3.CreateBucket",
    "create_key": "kms.CreateKey",
    "create_alias": "kms.CreateAlias",
    "create_cluster": "eks.CreateCluster",
    "create_node_pool": "eks.CreateNodegroup",
    "create_db_instance_read_replica": "rds.CreateDBInstanceReadReplica",
    "put_bucket_versioning": "s3.PutBucketVersioning",
}
AWS_ERROR_CODES: dict[type[errors.ProviderError], tuple[str, int]] = {
    errors.Throttled: ("ThrottlingException", 400),
    errors.Unavailable: ("ServiceUnavailable", 503),
}


@dataclass
class CloudHarness:
    """A driver under test and the test-only levers around it."""

    name: str
    driver: Any
    fail_next: Callable[[str, type[errors.ProviderError], int], None]
    put_object: Callable[[str, str, bytes], None]
    count_networks: Callable[[str], int]
    count_keys: Callable[[str], int]
    seed_costs: Callable[[date, date, str, str, str], None]
    sleeps: list[float]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """One moto server per test process, on a loopback port, reached over real HTTP."""
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one access-log line per call is noise
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


def sandbox_harness(state_dir: Path) -> CloudHarness:
    """The sandbox driver with a fresh state directory."""
    sleeps: list[float] = []
    driver = SandboxCloudDriver(
        state_dir, account=ACCOUNT, region=REGION, retry_policy=TEST_RETRIES, sleep=sleeps.append
    )

    def count_networks(name: str) -> int:
        with driver._state() as state:
            return sum(1 for record in state.get("networks", {}).values() if record["name"] == name)

    def count_keys(alias: str) -> int:
        with driver._state() as state:
            return sum(1 for record in state.get("keys", {}).values() if record["name"] == alias)

    return CloudHarness(
        name="sandbox",
        driver=driver,
        fail_next=driver.inject_fault,
        put_object=driver.put_object,
        count_networks=count_networks,
        count_keys=count_keys,
        seed_costs=lambda start, end, tag, value, service: None,  # the sandbox bills what exists
        sleeps=sleeps,
    )


def aws_harness(endpoint: str) -> CloudHarness:
    """The AWS driver pointed at moto, after resetting moto's state."""
    requests.post(f"{endpoint}/moto-api/reset", timeout=10).raise_for_status()
    sleeps: list[float] = []
    base = boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION)
    driver = AwsCloudDriver(
        AwsCredentials(role_arn=f"arn:aws:iam::{ACCOUNT}:role/portal", external_id="portal-test", region=REGION),
        base_session=base,
        endpoint_url=endpoint,
        retry_policy=TEST_RETRIES,
        sleep=sleeps.append,
    )

    def fail_next(step: str, error: type[errors.ProviderError], times: int) -> None:
        code, status = AWS_ERROR_CODES[error]
        remaining = [times]

        def refuse(model: Any, **_: Any) -> None:
            if remaining[0] > 0:
                remaining[0] -= 1
                answer = {
                    "Error": {"Code": code, "Message": "injected"},
                    "ResponseMetadata": {"HTTPStatusCode": status},
                }
                raise ClientError(answer, model.name)

        driver.on(f"before-call.{AWS_OPERATIONS[step]}", refuse)

    def count_networks(name: str) -> int:
        tagged = [{"Name": f"tag:{NAME_TAG}", "Values": [name]}]
        return len(driver.client("ec2").describe_vpcs(Filters=tagged)["Vpcs"])

    def count_keys(alias: str) -> int:
        kms = driver.client("kms")
        return sum(
            1
            for key in kms.list_keys()["Keys"]
            if {"TagKey": ALIAS_TAG, "TagValue": alias} in kms.list_resource_tags(KeyId=key["KeyId"])["Tags"]
        )

    def seed_costs(start: date, end: date, tag: str, value: str, service: str) -> None:
        days = [start + timedelta(days=offset) for offset in range((end - start).days)]
        result: dict[str, Any] = {
            "ResultsByTime": [
                {
                    "TimePeriod": {"Start": day.isoformat(), "End": (day + timedelta(days=1)).isoformat()},
                    "Total": {},
                    "Groups": [
                        {
                            "Keys": [service, f"{tag}${value}"],
                            "Metrics": {"UnblendedCost": {"Amount": "0.2300000001", "Unit": "USD"}},
                        },
                        {"Keys": [service, f"{tag}$"], "Metrics": {"UnblendedCost": {"Amount": "1.5", "Unit": "USD"}}},
                    ],
                    "Estimated": False,
                }
                for day in days
            ]
        }
        answer = requests.post(
            f"{endpoint}/moto-api/static/ce/cost-and-usage-results",
            json={"results": [result], "account_id": ACCOUNT},
            timeout=10,
        )
        answer.raise_for_status()

    return CloudHarness(
        name="aws",
        driver=driver,
        fail_next=fail_next,
        put_object=lambda bucket, key, body: driver.client("s3").put_object(Bucket=bucket, Key=key, Body=body),
        count_networks=count_networks,
        count_keys=count_keys,
        seed_costs=seed_costs,
        sleeps=sleeps,
    )
