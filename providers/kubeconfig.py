"""Reading a kubeconfig an administrator pasted: parsed safely, checked, and never echoed back.

The portal's workers build a Kubernetes client from the kubeconfig stored
with a cluster (on-prem k3s writes one to ``/etc/rancher/k3s/k3s.yaml``). It
must therefore be self-contained: the current context must lead to a cluster
with a ``server`` and to a user, and everything must be inline. A user that
runs a command (``exec``, ``auth-provider``) or a field that names a file on
disk (``certificate-authority``, ``client-certificate``, ``client-key``,
``tokenFile``) is refused, since it would run that command or read that file
on the portal's workers.

Messages name what is missing, never a value from the text: a kubeconfig
holds client keys and tokens, and the messages end up on pages and in logs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import yaml

from providers.errors import InvalidRequest

# Keys that would make the Kubernetes client run a program or read a local file.
USER_PLUGINS = ("exec", "auth-provider")
FILE_FIELDS = {
    "cluster": ("certificate-authority",),
    "user": ("client-certificate", "client-key", "tokenFile"),
}


def parse_kubeconfig(text: str) -> dict[str, Any]:
    """The kubeconfig as a dict, ready for ``KubernetesClusterDriver.from_kubeconfig``.

    Raises :class:`~providers.errors.InvalidRequest` saying what is wrong (a
    YAML error gives only its line and column) when the text is not YAML, or
    its current context does not lead to a cluster with a server and a user,
    or it would run a command or read a file.
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
    return document


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
