"""The one way the portal sends a request to a URL its users gave it: chat webhooks, kubeconfig servers, callbacks.

A URL a user types is an instruction to the portal's own network position:
without care, ``https://169.254.169.254/`` reads the cloud's credentials,
``https://10.0.0.5:6379/`` talks to a private Redis, and a name that resolves
to a public address when checked and to ``127.0.0.1`` a second later
(DNS rebinding) reaches the portal itself. Every such URL is therefore held
to one :class:`OutboundPolicy`, both when it is saved (:func:`check_url`,
whose :class:`UnsafeURL` says why, for the form or the API) and when it is
used (:func:`post_json`, or a :class:`GuardedPoolManager` for a client such
as Kubernetes' that builds its own requests):

- ``https`` only, no user name or password in the URL, an explicit host;
  numeric hosts only in their standard form (``127.1``, ``0x7f000001`` and
  ``2130706433`` are loopback in disguise);
- when the policy names hosts, only those (``.example.com`` allows its
  subdomains, as ``ALLOWED_HOSTS`` does);
- every address the name resolves to must be public: loopback, private,
  link-local, CGNAT, unique-local, multicast, reserved and documentation
  ranges are refused, as are IPv4 addresses hidden in IPv6 ones
  (``::ffff:127.0.0.1``, 6to4, NAT64) by the IPv4 address they carry. An
  administrator may open ``private_networks`` (an on-prem cluster range);
  cloud metadata addresses stay refused whatever is opened;
- the connection goes to an address that was checked, resolved once for that
  connection, and the socket's peer is compared with it after connecting, so
  no second lookup can swap the address;
- no redirect is followed, the time and the size of the answer are bounded.

This module is plain Python on urllib3 (no Django, no app), so every layer may
use it: the provider drivers (``providers/`` imports no app) as well as the
apps, which build their policy from their settings. No environment proxy is
used for :func:`post_json`: a proxy would make the connection to an address
this module cannot check.

Tests open a loopback server explicitly, with ``private_networks`` (and a
stub ``resolver`` for names); the defaults open nothing.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import urllib3
from urllib3.connection import HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import HTTPError, LocationValueError, NewConnectionError

from providers.errors import InvalidRequest

logger = logging.getLogger(__name__)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
# (host, port) -> the addresses it resolves to, in the order to try them.
Resolver = Callable[[str, int], Sequence[str]]

# Instance metadata and host agents of the clouds: refused even inside an opened private network.
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(address)
    for address in (
        "169.254.169.254",  # AWS, Azure, GCP, OpenStack, DigitalOcean, Oracle instance metadata
        "169.254.170.2",  # AWS ECS task metadata and credentials
        "169.254.170.23",  # EKS Pod Identity agent
        "fd00:ec2::254",  # AWS instance metadata over IPv6
        "fd00:ec2::23",  # EKS Pod Identity agent over IPv6
        "fd20:ce::254",  # GCP metadata over IPv6
        "100.100.100.200",  # Alibaba Cloud metadata
        "168.63.129.16",  # Azure WireServer (a public-looking address inside every Azure VNet)
        "192.0.0.192",  # Oracle Cloud legacy metadata
    )
)
_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_UNIQUE_LOCAL = ipaddress.ip_network("fc00::/7")
_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")
# Ranges Python's is_global still counts as global although nothing public answers there.
_NOT_PUBLIC = (
    ipaddress.ip_network("192.88.99.0/24"),  # 6to4 relay anycast
    ipaddress.ip_network("192.0.0.0/24"),  # IETF protocol assignments
    ipaddress.ip_network("2001::/23"),  # IETF protocol assignments (Teredo, ORCHID…)
    ipaddress.ip_network("5f00::/16"),  # segment routing
    ipaddress.ip_network("3fff::/20"),  # documentation
)

DEFAULT_TIMEOUT_SECONDS = 10.0
DEFAULT_MAX_RESPONSE_BYTES = 64 * 1024
USER_AGENT = "platform-portal"


class UnsafeURL(InvalidRequest):
    """The URL breaks the policy; ``message`` says why in words for the person who gave it.

    The message names the host and the address at fault, never the URL's
    path, query or user information (a webhook's path is its secret).
    """


class UnsafeAddress(UnsafeURL):
    """The URL's host is, or resolves to, an address the policy refuses (``address``)."""

    def __init__(self, message: str, *, address: IPAddress) -> None:
        super().__init__(message)
        self.address = address

    @property
    def metadata(self) -> bool:
        """Whether it is a cloud metadata address, which no setting opens."""
        embedded = _embedded_ipv4(self.address) if isinstance(self.address, ipaddress.IPv6Address) else None
        return self.address in METADATA_ADDRESSES or embedded in METADATA_ADDRESSES


class AddressRefused(NewConnectionError):
    """A connection the policy refused before (or right after) opening it; ``refusal`` says why."""

    def __init__(self, conn: HTTPSConnection, refusal: str) -> None:
        super().__init__(conn, f"refused: {refusal}")
        self.refusal = refusal


class SchemeRefused(LocationValueError):
    """A :class:`GuardedPoolManager` was asked for something other than https."""

    def __init__(self, scheme: str, host: str) -> None:
        self.refusal = f"{scheme}:// to {host} is refused (https only)"
        super().__init__(f"refused: {self.refusal}")


def refusal_in(error: BaseException) -> str | None:
    """Why the policy refused the connection behind ``error`` (urllib3 wraps it in a MaxRetryError), or None."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, AddressRefused | SchemeRefused):
            return current.refusal
        reason = getattr(current, "reason", None)
        current = reason if isinstance(reason, BaseException) else (current.__cause__ or current.__context__)
    return None


class OutboundFailed(Exception):
    """The request was allowed but did not succeed: ``detail`` (host and reason, never the path) is for the log."""

    def __init__(self, detail: str, *, status: int | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.status = status


def system_resolver(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (TCP), in the order the system gives them, without duplicates."""
    found: list[str] = []
    for _family, _type, _proto, _name, address in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM):
        text = str(address[0]).split("%", 1)[0]  # drop an IPv6 zone
        if text not in found:
            found.append(text)
    return found


@dataclass(frozen=True)
class OutboundPolicy:
    """What a user-supplied URL may reach.

    ``allowed_hosts`` empty: any public host; otherwise only those names
    (``.example.com``: that domain and its subdomains). ``private_networks``
    are ranges an administrator opened although they are not public (never
    the metadata addresses). ``resolver`` answers names (the system's by
    default; tests give a stub). ``ca_certs`` is a CA bundle to trust instead
    of the system's.
    """

    allowed_hosts: tuple[str, ...] = ()
    private_networks: tuple[IPNetwork, ...] = ()
    resolver: Resolver | None = None
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES
    ca_certs: str | None = field(default=None, repr=False)

    def resolve(self, host: str, port: int) -> list[str]:
        # The module-level function is looked up at call time, so a test can replace it for a whole process.
        return list((self.resolver or system_resolver)(host, port))


@dataclass(frozen=True)
class Target:
    """A URL that passed the policy: its host, port, the path to request, and the addresses checked for it."""

    host: str
    port: int
    request_path: str
    addresses: tuple[IPAddress, ...]


def parse_networks(values: Iterable[str]) -> tuple[IPNetwork, ...]:
    """CIDR ranges (``10.20.0.0/16``, ``fd12:3456::/48``, or one address) as networks; ValueError names a bad one."""
    networks: list[IPNetwork] = []
    for value in values:
        text = value.strip()
        if not text:
            continue
        try:
            networks.append(ipaddress.ip_network(text, strict=False))
        except ValueError:
            raise ValueError(f"{text!r} is not an IP network such as 10.20.0.0/16") from None
    return tuple(networks)


def parse_hosts(values: Iterable[str]) -> tuple[str, ...]:
    """Host names (``hooks.slack.com``, ``.webhook.office.com``) lower-cased; ValueError names a bad one."""
    hosts: list[str] = []
    for value in values:
        text = value.strip().lower().rstrip(".")
        if not text:
            continue
        bare = text.removeprefix(".")
        if (
            not bare
            or any(not label or len(label) > 63 for label in bare.split("."))
            or not all(character.isalnum() or character in "-." for character in bare)
        ):
            raise ValueError(f"{value.strip()!r} is not a host name such as hooks.slack.com or .example.com")
        hosts.append(text)
    return tuple(hosts)


def address_refusal(address: IPAddress, *, private_networks: Sequence[IPNetwork] = ()) -> str | None:
    """Why the portal must not connect to ``address`` (e.g. "is a loopback address"), or None when it may."""
    if address in METADATA_ADDRESSES:
        return "is a cloud metadata address"
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            refusal = address_refusal(embedded, private_networks=private_networks)
            return f"carries the IPv4 address {embedded}, which {refusal}" if refusal else None
    if any(address in network for network in private_networks if network.version == address.version):
        return None
    if address.is_loopback:
        return "is a loopback address"
    if address.is_unspecified:
        return "is the unspecified address (this host)"
    if address.is_link_local:
        return "is a link-local address"
    if address.is_multicast:
        return "is a multicast address"
    if isinstance(address, ipaddress.IPv4Address) and address in _CGNAT:
        return "is a carrier-grade NAT (CGNAT) address"
    if isinstance(address, ipaddress.IPv6Address) and address in _UNIQUE_LOCAL:
        return "is a unique local (private IPv6) address"
    if address.is_private:
        return "is a private address"
    if not address.is_global or any(address in net for net in _NOT_PUBLIC if net.version == address.version):
        return "is not a public address"
    return None


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one stands for: mapped, 6to4, NAT64 or (deprecated) IPv4-compatible."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if any(address in network for network in _NAT64) or (address in _IPV4_COMPATIBLE and int(address) > 1):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def _literal(host: str) -> IPAddress | None:
    """The address a host is written as, if it is an IP address; UnsafeURL for a non-standard numeric form."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    try:
        socket.inet_aton(host)
    except OSError:
        return None
    # inet_aton (and so the resolver) takes 127.1, 0x7f000001, 017700000001 and 2130706433 as 127.0.0.1.
    raise UnsafeURL(f"its host {host} is an IP address in a non-standard form; write it as a.b.c.d or use a name")


def _host_allowed(host: str, allowed_hosts: Sequence[str]) -> bool:
    for allowed in allowed_hosts:
        if allowed.startswith("."):
            if host == allowed[1:] or host.endswith(allowed):
                return True
        elif host == allowed:
            return True
    return False


def check_url(url: str, *, policy: OutboundPolicy, require_resolution: bool = True) -> Target:
    """The URL's target if ``policy`` lets the portal send to it; :class:`UnsafeURL` saying why otherwise.

    The host is resolved and every address checked. A name that does not
    resolve is refused unless ``require_resolution`` is false (a kubeconfig
    saved from a web server that cannot see the cluster's DNS); then the
    check is repeated when the URL is used, as it always is.
    """
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        raise UnsafeURL("it is not a valid URL") from None
    if parts.scheme.lower() != "https":
        raise UnsafeURL("it must start with https:// (other schemes are refused)")
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise UnsafeURL("it must not contain a user name or password (user:password@host)")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise UnsafeURL("it names no host")
    port = port or 443
    if policy.allowed_hosts and not _host_allowed(host, policy.allowed_hosts):
        raise UnsafeURL(f"{host} is not one of the hosts the portal may send to ({', '.join(policy.allowed_hosts)})")
    addresses = _checked_addresses(host, port, policy, require_resolution=require_resolution)
    request_path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Target(host=host, port=port, request_path=request_path, addresses=addresses)


def _checked_addresses(
    host: str, port: int, policy: OutboundPolicy, *, require_resolution: bool = True
) -> tuple[IPAddress, ...]:
    """The addresses ``host`` stands for, every one allowed; UnsafeURL naming the first refused."""
    literal = _literal(host)
    if literal is not None:
        refusal = address_refusal(literal, private_networks=policy.private_networks)
        if refusal:
            raise UnsafeAddress(f"{literal} {refusal}", address=literal)
        return (literal,)
    if host.lower() == "localhost" or host.lower().endswith(".localhost"):
        raise UnsafeURL(f"{host} is this machine (a loopback name)")
    try:
        answers = policy.resolve(host, port)
    except (OSError, UnicodeError):
        answers = []
    if not answers:
        if require_resolution:
            raise UnsafeURL(f"{host} could not be resolved; check the host name")
        return ()
    addresses: list[IPAddress] = []
    for answer in answers:
        try:
            address = ipaddress.ip_address(answer)
        except ValueError:
            raise UnsafeURL(f"{host} resolves to something that is not an IP address") from None
        refusal = address_refusal(address, private_networks=policy.private_networks)
        if refusal:
            # Every answer must pass: the client might otherwise be steered to the bad one.
            raise UnsafeAddress(f"{host} resolves to {address}, which {refusal}", address=address)
        addresses.append(address)
    return tuple(addresses)


# --- the connection: to a checked address only ---------------------------------------------------------------


def open_connection(address: IPAddress, port: int, timeout: float | None) -> socket.socket:
    """A TCP connection to exactly ``address`` (no name lookup); module-level so tests can watch every one."""
    family = socket.AF_INET6 if address.version == 6 else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.connect((str(address), port))
    except BaseException:
        sock.close()
        raise
    return sock


class GuardedHTTPSConnection(HTTPSConnection):
    """urllib3's HTTPS connection, opened only to an address the policy allows, checked once more once connected.

    The TLS handshake still uses the URL's host name (SNI and certificate
    checks), so pinning the address weakens nothing. ``pinned_addresses``
    (already checked by :func:`check_url`) are used as they are; without them
    the host is resolved here, once, and every answer checked.
    """

    def __init__(
        self,
        *args: Any,
        outbound_policy: OutboundPolicy,
        pinned_addresses: tuple[IPAddress, ...] = (),
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.outbound_policy = outbound_policy
        self.pinned_addresses = pinned_addresses

    def _new_conn(self) -> socket.socket:
        policy = self.outbound_policy
        host = (self.host or "").strip("[]")
        port = int(self.port or 443)
        try:
            addresses = self.pinned_addresses or _checked_addresses(host, port, policy)
        except UnsafeURL as refused:
            raise AddressRefused(self, refused.message) from None
        last_error: OSError | None = None
        for address in addresses:
            refusal = address_refusal(address, private_networks=policy.private_networks)
            if refusal:
                raise AddressRefused(self, f"{address} {refusal}")
            try:
                sock = open_connection(address, port, self._connect_timeout())
            except OSError as error:
                last_error = error
                continue
            peer = ipaddress.ip_address(str(sock.getpeername()[0]).split("%", 1)[0])
            if peer != address:
                sock.close()
                raise AddressRefused(self, f"connected to {peer}, not the checked {address}")
            return sock
        raise NewConnectionError(self, f"could not connect to {host}: {last_error or 'no address'}")

    def _connect_timeout(self) -> float:
        # urllib3 leaves its "default" sentinel here when no timeout was given: never wait without end.
        timeout = self.timeout
        return float(timeout) if isinstance(timeout, float | int) else self.outbound_policy.timeout_seconds


class GuardedHTTPSConnectionPool(HTTPSConnectionPool):
    ConnectionCls = GuardedHTTPSConnection


class GuardedPoolManager(urllib3.PoolManager):
    """A PoolManager whose every connection goes through :class:`GuardedHTTPSConnection`; plain HTTP is refused.

    For clients that build their own requests (the Kubernetes client): give
    it the keyword arguments the client would give its own PoolManager.
    """

    def __init__(self, *, outbound_policy: OutboundPolicy, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.outbound_policy = outbound_policy

    def _new_pool(
        self, scheme: str, host: str, port: int, request_context: dict[str, Any] | None = None
    ) -> HTTPConnectionPool:
        if scheme != "https":
            raise SchemeRefused(scheme, host)
        context = dict(request_context if request_context is not None else self.connection_pool_kw)
        for key in ("scheme", "host", "port"):
            context.pop(key, None)
        if context.get("blocksize") is None:
            context.pop("blocksize", None)
        return GuardedHTTPSConnectionPool(host, port, outbound_policy=self.outbound_policy, **context)


# --- one request ----------------------------------------------------------------------------------------------


def post_json(url: str, payload: Any, *, policy: OutboundPolicy) -> int:
    """POST ``payload`` as JSON to ``url`` under ``policy``; the 2xx status it answered.

    Raises :class:`UnsafeURL` when the policy refuses the URL (nothing is
    sent), :class:`OutboundFailed` for any other failure: no answer in
    ``policy.timeout_seconds`` (connecting and reading together), a redirect
    (never followed), an answer other than 2xx, or a body longer than
    ``policy.max_response_bytes`` (read no further). Messages name the host,
    never the path.
    """
    import json

    target = check_url(url, policy=policy)
    deadline = time.monotonic() + policy.timeout_seconds
    pool = GuardedHTTPSConnectionPool(
        target.host,
        target.port,
        outbound_policy=policy,
        pinned_addresses=target.addresses,
        timeout=urllib3.Timeout(total=policy.timeout_seconds),
        retries=urllib3.Retry(total=0, redirect=0, raise_on_redirect=False, raise_on_status=False),
        maxsize=1,
        cert_reqs="CERT_REQUIRED",
        ca_certs=policy.ca_certs,
    )
    body = json.dumps(payload).encode()
    try:
        response = pool.urlopen(
            "POST",
            target.request_path,
            body=body,
            headers={"Content-Type": "application/json", "User-Agent": USER_AGENT},
            redirect=False,
            preload_content=False,
            assert_same_host=True,
        )
        try:
            _read_bounded(response, limit=policy.max_response_bytes, deadline=deadline, host=target.host)
        finally:
            response.release_conn()
    except HTTPError as error:
        raise OutboundFailed(f"{target.host}: {_reason(error)}") from None
    finally:
        pool.close()
    status = int(response.status)
    if 300 <= status < 400:
        raise OutboundFailed(f"{target.host} answered {status}, a redirect (not followed)", status=status)
    if not 200 <= status < 300:
        raise OutboundFailed(f"{target.host} answered {status}", status=status)
    return status


def _read_bounded(response: urllib3.BaseHTTPResponse, *, limit: int, deadline: float, host: str) -> None:
    """Read (and drop) the answer's body, at most ``limit`` bytes and not past ``deadline``."""
    received = 0
    for chunk in response.stream(8192):
        received += len(chunk)
        if received > limit:
            raise OutboundFailed(f"{host}: the answer is larger than {limit} bytes (not read further)")
        if time.monotonic() > deadline:
            raise OutboundFailed(f"{host}: the answer took longer than allowed")


def _reason(error: HTTPError) -> str:
    """A urllib3 error in words without the URL (its messages may quote the path)."""
    refusal = refusal_in(error)
    if refusal:
        return f"refused: {refusal}"
    reason = getattr(error, "reason", None) or error
    text = str(reason)
    if isinstance(reason, NewConnectionError):
        # Its message is "<connection>: could not connect to <host>: <OS error>": no path in it.
        return "could not connect" + (f" ({text.rpartition(': ')[2]})" if ": " in text else "")
    if "timed out" in text.lower() or isinstance(reason, TimeoutError | socket.timeout):
        return "timed out"
    if "ssl" in text.lower() or "certificate" in text.lower():
        return "TLS failed (certificate or handshake)"
    return type(reason).__name__
