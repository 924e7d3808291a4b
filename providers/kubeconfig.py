"""Reading a kubeconfig an administrator pasted: parsed safely, checked, and never echoed back.

The portal's workers build a Kubernetes client from the kubeconfig stored
with a cluster (on-prem k3s writes one to ``/etc/rancher/k3s/k3s.yaml``). It
must therefore be self-contained: the current context must lead to a cluster
with a ``server`` and to a user, and everything must be inline. A user that
runs a command (``exec``, ``auth-provider``) or a field that names a file on
disk (``certificate-authority``, ``client-certificate``, ``client-key``,
``tokenFile``) is refused, since it would run that command or read that file
on the portal's workers.

Every cluster's ``server`` is held to the outbound rules of
:mod:`providers.outbound` (the worker will send the kubeconfig's bearer token
there): ``https`` only, no user information, and an address that is public
or inside a private network the administrator opened for clusters
(``PORTAL_CLUSTER_PRIVATE_NETWORKS``); loopback, link-local and cloud
metadata addresses are refused. A server reached through ``proxy-url`` is
refused too (the proxy, not the portal, would choose where to connect). A
name that does not resolve here is accepted (the web server may not see the
centres' DNS): the driver resolves and checks it again on every connection.

Messages name what is missing, never a value from the text: a kubeconfig
holds client keys and tokens, and the messages end up on pages and in logs.
The only value named is a refused server's host and address, which are no
secret (the cluster's API endpoint is shown on its page).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import yaml

from providers.errors import InvalidRequest
from providers.outbound import OutboundPolicy, UnsafeAddress, UnsafeURL, check_url, parse_networks

# Keys that would make the Kubernetes client run a program or read a local file.
USER_PLUGINS = ("exec", "auth-provider")
FILE_FIELDS = {
    "cluster": ("certificate-authority",),
    "user": ("client-certificate", "client-key", "tokenFile"),
}


def cluster_server_policy(private_networks: Iterable[str] = ()) -> OutboundPolicy:
    """Where a kubeconfig may send its credentials: public https addresses, and ``private_networks`` (CIDR)."""
    return OutboundPolicy(private_networks=parse_networks(private_networks))


def parse_kubeconfig(text: str, *, server_policy: OutboundPolicy) -> dict[str, Any]:
    """The kubeconfig as a dict, ready for ``KubernetesClusterDriver.from_kubeconfig``.

    Raises :class:`~providers.errors.InvalidRequest` saying what is wrong (a
    YAML error gives only its line and column) when the text is not YAML, or
    its current context does not lead to a cluster with a server and a user,
    or it would run a command or read a file, or a cluster's server breaks
    ``server_policy`` (scheme, user information, address; see the module).
    """
    try:
        document = yaml.safe_load(text)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        raise InvalidRequest(f"The kubeconfig is not valid YAML{where}.") from None
    except yaml.YAMLError:
        raise InvalidRequest("The kubeconfig is not valid YAML.") from None
    if not isinstance(document, dict):
        raise InvalidRequest("The kubeconfig must be a YAML mapping with clusters, users and contexts.")
    clusters = _named(document, "clusters", "cluster")
    users = _named(document, "users", "user")
    contexts = _named(document, "contexts", "context")
    if not clusters:
        raise InvalidRequest("The kubeconfig lists no cluster.")
    if not users:
        raise InvalidRequest("The kubeconfig lists no user.")
    current = document.get("current-context")
    if not isinstance(current, str) or not current:
        raise InvalidRequest("The kubeconfig has no current-context.")
    context = contexts.get(current)
    if context is None:
        raise InvalidRequest("The kubeconfig's current-context names a context it does not list.")
    cluster = clusters.get(str(context.get("cluster", "")))
    if cluster is None:
        raise InvalidRequest("The kubeconfig's current context names a cluster it does not list.")
    if not isinstance(cluster.get("server"), str) or not cluster["server"]:
        raise InvalidRequest("The kubeconfig's cluster has no server URL.")
    user = users.get(str(context.get("user", "")))
    if user is None:
        raise InvalidRequest("The kubeconfig's current context names a user it does not list.")
    for plugin in USER_PLUGINS:
        if any(plugin in entry for entry in users.values()):
            raise InvalidRequest(
                f"The kubeconfig's user runs a command ({plugin}); give a token or an inline client certificate."
            )
    for kind, entries in (("cluster", clusters), ("user", users)):
        for key in FILE_FIELDS[kind]:
            if any(key in entry for entry in entries.values()):
                raise InvalidRequest(
                    f"The kubeconfig's {kind} reads a file ({key}); put its content inline ({key}-data or token)."
                )
    for entry in clusters.values():
        check_server(entry, server_policy=server_policy)
    return document


def check_server(cluster: Mapping[str, Any], *, server_policy: OutboundPolicy) -> None:
    """Refuse a kubeconfig cluster whose ``server`` the portal must not send a token to (InvalidRequest saying why)."""
    if "proxy-url" in cluster:
        raise InvalidRequest("The kubeconfig's cluster goes through a proxy (proxy-url); the portal connects directly.")
    server = cluster.get("server")
    if not isinstance(server, str) or not server:
        raise InvalidRequest("The kubeconfig's cluster has no server URL.")
    try:
        check_url(server, policy=server_policy, require_resolution=False)
    except UnsafeURL as refused:
        hint = (
            " (an administrator may allow a private cluster range with PORTAL_CLUSTER_PRIVATE_NETWORKS)"
            if isinstance(refused, UnsafeAddress) and not refused.metadata
            else ""
        )
        raise InvalidRequest(f"The kubeconfig's server is refused: {refused.message}{hint}.") from None


def _named(document: Mapping[str, Any], section: str, body: str) -> dict[str, dict[str, Any]]:
    """``{name: body}`` of a kubeconfig list such as ``clusters: [{name: k3s, cluster: {...}}]``."""
    entries = document.get(section) or []
    if not isinstance(entries, list):
        raise InvalidRequest(f"The kubeconfig's {section} must be a list.")
    named: dict[str, dict[str, Any]] = {}
    for entry in entries:
        if not isinstance(entry, dict) or not isinstance(entry.get(body), dict) or "name" not in entry:
            raise InvalidRequest(f"Each entry of the kubeconfig's {section} needs a name and a {body} mapping.")
        named[str(entry["name"])] = entry[body]
    return named
