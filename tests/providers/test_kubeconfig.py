"""Checking a pasted kubeconfig: what the driver needs is there, nothing runs or reads files, nothing is echoed,
and its server is an https address the portal may send the token to."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from providers.errors import InvalidRequest
from providers.kubeconfig import cluster_server_policy
from providers.kubeconfig import parse_kubeconfig as parse_with
from providers.outbound import OutboundPolicy
from tests.factories import kubeconfig_for
from tests.outbound_servers import StubResolver

TOKEN = "k3s-token-never-echoed"
# The centre's network, opened as an administrator would (PORTAL_CLUSTER_PRIVATE_NETWORKS); names resolve from a
# stub (k3s.centre.example: a public address; api.rebound.example: loopback; anything else: not at all).
NAMES = {"k3s.centre.example": [["93.184.215.14"]], "api.rebound.example": [["127.0.0.1"]]}


def policy(*networks: str) -> OutboundPolicy:
    return OutboundPolicy(
        private_networks=cluster_server_policy(networks).private_networks, resolver=StubResolver(NAMES)
    )


def parse_kubeconfig(text: str) -> dict[str, Any]:
    return parse_with(text, server_policy=policy("10.0.0.0/8"))


def kubeconfig(server: str = "https://10.0.0.5:6443", /, **changes: Any) -> str:
    document = yaml.safe_load(kubeconfig_for(server, token=TOKEN))
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
        (
            kubeconfig(clusters=[{"name": "other", "cluster": {"server": "https://k3s.centre.example"}}]),
            "names a cluster it does not",
        ),
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
            {
                "clusters": [
                    {
                        "name": "k3s",
                        "cluster": {"server": "https://k3s.centre.example", "certificate-authority": "/ca.crt"},
                    }
                ]
            },
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


@pytest.mark.parametrize(
    ("server", "message"),
    [
        ("file:///etc/rancher/k3s/k3s.yaml", "must start with https://"),
        ("gopher://127.0.0.1:6379/_FLUSHALL", "must start with https://"),
        ("unix:///var/run/docker.sock", "must start with https://"),
        ("http://k3s.centre.example:6443", "must start with https://"),
        ("https://admin:secret@k3s.centre.example:6443", "user name or password"),
        ("https://169.254.169.254/latest/meta-data/", "169.254.169.254 is a cloud metadata address"),
        ("https://[fd00:ec2::254]/", "is a cloud metadata address"),
        ("https://2130706433:6443", "non-standard form"),
        ("https://0x7f000001:6443", "non-standard form"),
        ("https://127.1:6443", "non-standard form"),
        ("https://127.0.0.1:6443", "127.0.0.1 is a loopback address"),
        ("https://[::1]:6443", "::1 is a loopback address"),
        ("https://[::ffff:127.0.0.1]:6443", "carries the IPv4 address 127.0.0.1"),
        ("https://localhost:6443", "loopback name"),
        ("https://169.254.10.1:6443", "is a link-local address"),
        ("https://172.16.0.5:6443", "172.16.0.5 is a private address"),
        ("https://api.rebound.example:6443", "api.rebound.example resolves to 127.0.0.1, which is a loopback address"),
    ],
)
def test_a_server_the_portal_must_not_send_the_token_to_is_refused_saying_why(server: str, message: str) -> None:
    with pytest.raises(InvalidRequest) as refused:
        parse_kubeconfig(kubeconfig(server))

    assert message in refused.value.message
    assert refused.value.message.startswith("The kubeconfig's server is refused: ")
    assert TOKEN not in refused.value.message
    assert "secret" not in refused.value.message


def test_a_private_server_needs_its_network_opened_by_an_administrator() -> None:
    text = kubeconfig("https://10.0.0.5:6443")

    with pytest.raises(InvalidRequest) as refused:
        parse_with(text, server_policy=policy())
    assert "10.0.0.5 is a private address" in refused.value.message
    assert "PORTAL_CLUSTER_PRIVATE_NETWORKS" in refused.value.message
    assert parse_with(text, server_policy=policy("10.0.0.0/24"))["current-context"] == "k3s"


def test_opening_a_network_never_opens_the_metadata_address_in_it() -> None:
    with pytest.raises(InvalidRequest, match="cloud metadata") as refused:
        parse_with(kubeconfig("https://169.254.169.254:6443"), server_policy=policy("169.254.0.0/16"))

    assert "PORTAL_CLUSTER_PRIVATE_NETWORKS" not in refused.value.message


def test_a_public_name_and_a_name_this_server_cannot_resolve_are_accepted_and_checked_again_on_connecting() -> None:
    parse_with(kubeconfig("https://k3s.centre.example:6443"), server_policy=policy())
    parse_with(kubeconfig("https://centre-sydney-01.centres.internal:6443"), server_policy=policy())


def test_a_server_reached_through_a_proxy_is_refused() -> None:
    clusters = [{"name": "k3s", "cluster": {"server": "https://10.0.0.5:6443", "proxy-url": "http://169.254.169.254"}}]

    with pytest.raises(InvalidRequest, match=r"goes through a proxy \(proxy-url\)"):
        parse_kubeconfig(kubeconfig(clusters=clusters))


def test_every_cluster_of_the_kubeconfig_is_checked_not_only_the_current_one() -> None:
    clusters = [
        {"name": "k3s", "cluster": {"server": "https://10.0.0.5:6443"}},
        {"name": "spare", "cluster": {"server": "https://169.254.169.254"}},
    ]

    with pytest.raises(InvalidRequest, match="cloud metadata"):
        parse_kubeconfig(kubeconfig(clusters=clusters))
