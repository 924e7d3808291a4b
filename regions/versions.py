"""Which Kubernetes versions a new region's cluster can be built with: the cloud's word, briefly cached.

Managed Kubernetes moves on: EKS and AKS stop creating clusters of a minor
version some fourteen months after its release (EKS keeps it in paid extended
support for a while longer). So the portal never assumes a version: it asks
the cloud account in the region (:meth:`~providers.cloud.CloudDriver.kubernetes_versions`),
keeps the answer for :data:`CACHE_SECONDS` per provider, account and region,
and refuses a version the cloud does not offer. An empty choice means the
newest version in standard support (never a preview, never one in extended
support). When the cloud cannot be asked, the caller hears so; nothing falls
back to a version written in the code, which would be refused later by the
cloud, or worse, accepted for a version about to leave support.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.core.cache import cache

from providers import errors
from providers.cloud import CloudDriver, KubernetesVersionInfo
from regions.choices import Provider
from regions.models import CloudAccount

CACHE_SECONDS = 3600

SUPPORT_LABELS = {"standard": "standard support", "extended": "extended support", "preview": "preview"}


class VersionsUnavailable(Exception):
    """The cloud could not say which versions it offers; ``message`` says so in words."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _cache_key(account: CloudAccount, region_code: str) -> str:
    return f"regions:kubernetes-versions:{account.provider}:{account.pk}:{account.external_id}:{region_code}"


def _driver(account: CloudAccount, region_code: str) -> CloudDriver:
    from regions.drivers import cloud_driver_in

    return cloud_driver_in(account, region_code)


def offered_versions(
    account: CloudAccount, region_code: str, *, driver: CloudDriver | None = None, fresh: bool = False
) -> list[KubernetesVersionInfo]:
    """The versions ``account`` can create a cluster with in ``region_code``, newest first.

    Cached for :data:`CACHE_SECONDS` (a failure is not cached); ``fresh`` asks
    the cloud again. Raises :class:`VersionsUnavailable` when the cloud cannot
    be asked.
    """
    key = _cache_key(account, region_code)
    if not fresh:
        cached = cache.get(key)
        if cached is not None:
            return list(cached)
    provider = Provider(account.provider).label
    try:
        versions = (driver or _driver(account, region_code)).kubernetes_versions()
    except errors.ProviderError as error:
        raise VersionsUnavailable(
            f"The portal could not ask {provider} which Kubernetes versions it offers in {region_code}: "
            f"{error.message} Try again in a few minutes."
        ) from error
    cache.set(key, versions, CACHE_SECONDS)
    return versions


def default_version(versions: Sequence[KubernetesVersionInfo]) -> str | None:
    """The newest version in standard support (not a preview, not extended support), or None when none is."""
    return next((info.version for info in versions if info.support == "standard"), None)


def describe(versions: Sequence[KubernetesVersionInfo]) -> str:
    """The offered versions in words: "1.35, 1.34 (standard support), 1.33, 1.32 (extended support)"."""
    groups: list[str] = []
    for support in ("standard", "extended", "preview"):
        numbers = [info.version for info in versions if info.support == support]
        if numbers:
            groups.append(f"{', '.join(numbers)} ({SUPPORT_LABELS[support]})")
    return "; ".join(groups) or "none"


def refusal(versions: Sequence[KubernetesVersionInfo], requested: str, provider: str, region_code: str) -> str | None:
    """Why a cluster of ``requested`` (a minor version, or a patch of one) cannot be created, or None."""
    minor = ".".join(requested.split(".")[:2])
    if any(item.version == minor for item in versions):
        return None
    return (
        f"{provider} no longer creates (or does not yet create) Kubernetes {requested} clusters in {region_code}. "
        f"It offers {describe(versions)}."
    )


def choose_version(account: CloudAccount, region_code: str, requested: str) -> str:
    """The version a new cluster in ``region_code`` gets: ``requested`` if the cloud offers it, or (when empty)
    the newest in standard support.

    Raises :class:`ValueError` with the reason in words when the cloud does not
    offer it (or offers nothing in standard support), and
    :class:`VersionsUnavailable` when the cloud cannot be asked.
    """
    versions = offered_versions(account, region_code)
    provider = Provider(account.provider).label
    if not requested:
        chosen = default_version(versions)
        if chosen is None:
            raise ValueError(
                f"{provider} offers no Kubernetes version in standard support in {region_code} "
                f"({describe(versions)}). Name one of them."
            )
        return chosen
    reason = refusal(versions, requested, provider, region_code)
    if reason is not None:
        raise ValueError(reason)
    return requested
