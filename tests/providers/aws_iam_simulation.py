"""IAM policy simulation for tests: moto (5.x) does not implement ``SimulatePrincipalPolicy``, so a botocore
``before-call`` hook answers it from the role's policies as moto stores them.

The hook reads the role's inline and attached policies from moto and
evaluates each asked action the way IAM does for identity policies without
conditions or resource limits: an explicit ``Deny`` wins (``explicitDeny``),
else an ``Allow`` that matches (``*`` and ``?`` wildcards, case-insensitive)
is ``allowed``, else ``implicitDeny``. A role moto does not know is IAM's
``NoSuchEntity``. Answers come in pages of ``page_size`` (``IsTruncated`` /
``Marker``), as IAM pages them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import boto3
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ClientError

from providers.access import aws_allows


def _statements(document: Any) -> list[dict[str, Any]]:
    statements = document.get("Statement", []) if isinstance(document, dict) else []
    return [statements] if isinstance(statements, dict) else list(statements)


def _actions(statement: dict[str, Any]) -> list[str]:
    actions = statement.get("Action", [])
    return [actions] if isinstance(actions, str) else list(actions)


def role_documents(iam: Any, role_arn: str) -> list[Any]:
    """Every policy document attached to the role (inline and managed)."""
    name = role_arn.rsplit("/", 1)[1]
    documents = [
        iam.get_role_policy(RoleName=name, PolicyName=policy)["PolicyDocument"]
        for policy in iam.list_role_policies(RoleName=name)["PolicyNames"]
    ]
    for attached in iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]:
        policy = iam.get_policy(PolicyArn=attached["PolicyArn"])["Policy"]
        version = iam.get_policy_version(PolicyArn=attached["PolicyArn"], VersionId=policy["DefaultVersionId"])
        documents.append(version["PolicyVersion"]["Document"])
    return documents


def decide(documents: list[Any], action: str) -> str:
    statements = [statement for document in documents for statement in _statements(document)]
    if any(s.get("Effect") == "Deny" and aws_allows(action, _actions(s)) for s in statements):
        return "explicitDeny"
    if any(s.get("Effect") == "Allow" and aws_allows(action, _actions(s)) for s in statements):
        return "allowed"
    return "implicitDeny"


def simulation_from_moto(endpoint: str, *, page_size: int = 50) -> tuple[Callable[..., Any], list[dict[str, Any]]]:
    """The hook for ``before-call.iam.SimulatePrincipalPolicy``, and the list of requests it answered."""
    iam = boto3.client(
        "iam",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    asked: list[dict[str, Any]] = []

    def answer(model: Any, params: dict[str, Any], **_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        body = params["body"]
        members = sorted(
            (int(key.rsplit(".", 1)[1]), value) for key, value in body.items() if key.startswith("ActionNames.member.")
        )
        actions = [value for _, value in members]
        role = body["PolicySourceArn"]
        asked.append({"PolicySourceArn": role, "ActionNames": actions, "Marker": body.get("Marker")})
        try:
            documents = role_documents(iam, role)
        except ClientError as error:
            raise ClientError(error.response, model.name) from error
        start = int(body.get("Marker") or 0)
        page = actions[start : start + page_size]
        truncated = start + page_size < len(actions)
        parsed: dict[str, Any] = {
            "EvaluationResults": [
                {"EvalActionName": action, "EvalResourceName": "*", "EvalDecision": decide(documents, action)}
                for action in page
            ],
            "IsTruncated": truncated,
            "ResponseMetadata": {"HTTPStatusCode": 200},
        }
        if truncated:
            parsed["Marker"] = str(start + page_size)
        return AWSResponse(params.get("url", ""), 200, {}, None), parsed

    return answer, asked


def refuse(code: str, message: str) -> Callable[..., Any]:
    """A hook that refuses the call with ``code``, as AWS does to a principal without the permission."""

    def hook(model: Any, **_: Any) -> None:
        raise ClientError({"Error": {"Code": code, "Message": message}, "ResponseMetadata": {}}, model.name)

    return hook
