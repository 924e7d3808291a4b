"""The outbound helper refuses what a user-supplied URL must not reach, and connects only where it checked.

Refusals are proven against real loopback listeners (their connection count
stays 0) and against a watch on every socket the helper opens, which also
stops a broken helper from sending anything beyond this machine.
"""

from __future__ import annotations

import ipaddress
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from providers import outbound
from providers.outbound import OutboundFailed, OutboundPolicy, UnsafeURL, check_url, post_json
from tests.outbound_servers import CHAT_HOST, SECRET_PATH, Listener, StubResolver, TestCA, WebhookServer

LOOPBACK = ipaddress.ip_network("127.0.0.1/32")


class Connections:
    """Every address the helper opened a socket to; anything beyond loopback fails the test before it is sent."""

    def __init__(self) -> None:
        self.opened: list[str] = []


@pytest.fixture
def connections(monkeypatch: pytest.MonkeyPatch) -> Connections:
    watched = Connections()
    real_open = outbound.open_connection

    def watch(address: outbound.IPAddress, port: int, timeout: float | None) -> socket.socket:
        watched.opened.append(str(address))
        if not address.is_loopback:
            raise AssertionError(f"the helper tried to connect to {address}")
        return real_open(address, port, timeout)

    monkeypatch.setattr(outbound, "open_connection", watch)
    return watched


@pytest.fixture
def listener() -> Iterator[Listener]:
    server = Listener()
    yield server
    server.close()


@pytest.fixture
def ipv6_listener() -> Iterator[Listener]:
    server = Listener("::1")
    yield server
    server.close()


@pytest.fixture
def ca(tmp_path: Path) -> TestCA:
    return TestCA(tmp_path)


@pytest.fixture
def webhook(ca: TestCA) -> Iterator[WebhookServer]:
    server = WebhookServer(ca)
    yield server
    server.close()


def loopback_policy(ca: TestCA, resolver: StubResolver | None = None, **options: object) -> OutboundPolicy:
    """The policy of a test that opens 127.0.0.1 explicitly and trusts the test CA (production opens nothing)."""
    return OutboundPolicy(
        private_networks=(LOOPBACK,),
        resolver=resolver or StubResolver({CHAT_HOST: [["127.0.0.1"]]}),
        ca_certs=str(ca.bundle),
        **options,  # type: ignore[arg-type]
    )


# --- addresses: loopback, private and metadata forms ---------------------------------------------------------

LOOPBACK_FORMS = [
    ("https://127.0.0.1:{port}/hook", "127.0.0.1 is a loopback address"),
    ("https://127.1:{port}/hook", "non-standard form"),
    ("https://0x7f000001:{port}/hook", "non-standard form"),
    ("https://2130706433:{port}/hook", "non-standard form"),
    ("https://0177.0.0.1:{port}/hook", "non-standard form"),
    ("https://0.0.0.0:{port}/hook", "unspecified address"),
    ("https://localhost:{port}/hook", "loopback name"),
    ("https://[::ffff:127.0.0.1]:{port}/hook", "carries the IPv4 address 127.0.0.1, which is a loopback address"),
    ("https://[64:ff9b::7f00:1]:{port}/hook", "carries the IPv4 address 127.0.0.1"),
    ("https://[2002:7f00:1::]:{port}/hook", "carries the IPv4 address 127.0.0.1"),
]


@pytest.mark.parametrize(("template", "why"), LOOPBACK_FORMS)
def test_no_form_of_loopback_opens_a_connection(
    template: str, why: str, listener: Listener, connections: Connections
) -> None:
    with pytest.raises(UnsafeURL) as refused:
        post_json(template.format(port=listener.port), {"text": "x"}, policy=OutboundPolicy())

    assert why in refused.value.message
    assert connections.opened == []
    assert listener.count() == 0


def test_ipv6_loopback_opens_no_connection(ipv6_listener: Listener, connections: Connections) -> None:
    with pytest.raises(UnsafeURL, match=r"::1 is a loopback address"):
        post_json(f"https://[::1]:{ipv6_listener.port}/hook", {"text": "x"}, policy=OutboundPolicy())

    assert connections.opened == []
    assert ipv6_listener.count() == 0


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("https://10.0.0.1/", "is a private address"),
        ("https://10.255.255.254:6379/", "is a private address"),
        ("https://172.16.0.1/", "is a private address"),
        ("https://172.31.255.254/", "is a private address"),
        ("https://192.168.1.1/", "is a private address"),
        ("https://100.64.0.1/", "carrier-grade NAT"),
        ("https://100.127.255.254/", "carrier-grade NAT"),
        ("https://169.254.169.254/latest/meta-data/", "cloud metadata"),
        ("https://169.254.170.2/v2/credentials", "cloud metadata"),
        ("https://[fd00:ec2::254]/latest/meta-data/", "cloud metadata"),
        ("https://100.100.100.200/latest/meta-data/", "cloud metadata"),
        ("https://168.63.129.16/", "cloud metadata"),
        ("https://169.254.1.1/", "link-local"),
        ("https://[fe80::1]/", "link-local"),
        ("https://[fc00::1]/", "unique local"),
        ("https://[fd12:3456:789a::1]/", "unique local"),
        ("https://[::]/", "unspecified"),
        ("https://224.0.0.1/", "multicast"),
        ("https://[ff02::1]/", "multicast"),
        ("https://[::ffff:10.0.0.1]/", "carries the IPv4 address 10.0.0.1, which is a private address"),
        ("https://[::ffff:169.254.169.254]/", "carries the IPv4 address 169.254.169.254, which is a cloud metadata"),
        ("https://192.0.2.10/", "is a private address"),
        ("https://240.0.0.1/", "is a private address"),
    ],
)
def test_private_link_local_cgnat_unique_local_and_metadata_addresses_are_refused_before_connecting(
    url: str, why: str, connections: Connections
) -> None:
    with pytest.raises(UnsafeURL) as refused:
        post_json(url, {"text": "x"}, policy=OutboundPolicy())

    assert why in refused.value.message
    assert connections.opened == []


def test_a_name_is_refused_when_any_of_its_addresses_is_private(connections: Connections) -> None:
    resolver = StubResolver(
        {"internal.example.test": [["10.0.0.5"]], "mixed.example.test": [["93.184.215.14", "127.0.0.1"]]}
    )
    policy = OutboundPolicy(resolver=resolver)

    with pytest.raises(UnsafeURL, match=r"internal\.example\.test resolves to 10\.0\.0\.5, which is a private"):
        post_json("https://internal.example.test/hook", {}, policy=policy)
    with pytest.raises(UnsafeURL, match=r"resolves to 127\.0\.0\.1, which is a loopback address"):
        post_json("https://mixed.example.test/hook", {}, policy=policy)
    assert connections.opened == []


def test_a_name_that_does_not_resolve_is_refused_with_a_clear_message() -> None:
    with pytest.raises(UnsafeURL, match=r"nowhere\.example\.test could not be resolved"):
        check_url("https://nowhere.example.test/hook", policy=OutboundPolicy(resolver=StubResolver({})))


def test_metadata_addresses_stay_refused_inside_a_network_an_admin_opened() -> None:
    policy = OutboundPolicy(private_networks=(ipaddress.ip_network("169.254.0.0/16"),))

    assert check_url("https://169.254.10.10:6443/", policy=policy).addresses == (ipaddress.ip_address("169.254.10.10"),)
    with pytest.raises(UnsafeURL, match="cloud metadata"):
        check_url("https://169.254.169.254/", policy=policy)


# --- schemes, user information, allow-list ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        f"http://{CHAT_HOST}:{{port}}/hook",
        "ftp://127.0.0.1:{port}/",
        "file:///etc/passwd",
        "gopher://127.0.0.1:{port}/_INFO",
        "dict://127.0.0.1:{port}/info",
        "unix:///var/run/docker.sock",
        "javascript:alert(document.cookie)",
        "data:text/plain,hello",
        "//127.0.0.1:{port}/hook",
    ],
)
def test_every_scheme_but_https_is_refused(url: str, listener: Listener, connections: Connections) -> None:
    resolver = StubResolver({CHAT_HOST: [["127.0.0.1"]]})
    policy = OutboundPolicy(private_networks=(LOOPBACK,), resolver=resolver)

    with pytest.raises(UnsafeURL, match="must start with https://"):
        post_json(url.format(port=listener.port), {}, policy=policy)

    assert connections.opened == []
    assert listener.count() == 0


def test_user_information_in_the_url_is_refused_and_never_sent(
    webhook: WebhookServer, ca: TestCA, connections: Connections
) -> None:
    url = f"https://user:pass@{CHAT_HOST}:{webhook.port}{SECRET_PATH}"

    with pytest.raises(UnsafeURL) as refused:
        post_json(url, {}, policy=loopback_policy(ca))

    assert "user name or password" in refused.value.message
    assert "pass" not in refused.value.message.replace("password", "")
    assert webhook.count() == 0
    assert connections.opened == []


def test_hosts_outside_the_admins_allow_list_are_refused(
    webhook: WebhookServer, ca: TestCA, connections: Connections
) -> None:
    allowed_only_slack = loopback_policy(ca, allowed_hosts=("hooks.slack.com", ".webhook.office.com"))

    with pytest.raises(UnsafeURL, match=r"chat\.example\.test is not one of the hosts"):
        post_json(webhook.url(), {}, policy=allowed_only_slack)
    assert webhook.count() == 0
    assert connections.opened == []
    # A subdomain entry allows the domain's hosts, and only those.
    subdomains = OutboundPolicy(allowed_hosts=(".example.test",), resolver=StubResolver({CHAT_HOST: [["8.8.8.8"]]}))
    assert check_url(webhook.url(), policy=subdomains).host == CHAT_HOST
    with pytest.raises(UnsafeURL, match="not one of the hosts"):
        check_url("https://example.test.evil.example/", policy=subdomains)


# --- what a permitted request does -------------------------------------------------------------------------------


def test_an_allowed_https_webhook_gets_the_json_on_its_path_and_its_certificate_is_checked(
    webhook: WebhookServer, ca: TestCA, tmp_path: Path
) -> None:
    assert post_json(webhook.url(), {"text": "hello"}, policy=loopback_policy(ca)) == 200

    path, headers, body = webhook.received[0]
    assert (path, body) == (SECRET_PATH, {"text": "hello"})
    assert headers["Host"] == f"{CHAT_HOST}:{webhook.port}"
    assert "Authorization" not in headers
    # A certificate the portal does not trust is a failure, not a post.
    (tmp_path / "other").mkdir()
    other = TestCA(tmp_path / "other")
    with pytest.raises(OutboundFailed, match="TLS failed"):
        post_json(webhook.url(), {}, policy=loopback_policy(other))
    assert webhook.count() == 1


@pytest.mark.parametrize("status", [302, 307])
def test_a_redirect_is_never_followed(
    status: int, webhook: WebhookServer, ca: TestCA, listener: Listener, connections: Connections
) -> None:
    webhook.answers = [(status, {"Location": f"https://127.0.0.1:{listener.port}/internal"})]

    with pytest.raises(OutboundFailed) as failed:
        post_json(webhook.url(), {"text": "x"}, policy=loopback_policy(ca))

    assert failed.value.status == status
    assert "redirect (not followed)" in failed.value.detail
    assert webhook.count() == 1
    assert listener.count() == 0
    assert connections.opened == ["127.0.0.1"]  # the webhook only


def test_an_error_status_fails_naming_the_host_never_the_secret_path(webhook: WebhookServer, ca: TestCA) -> None:
    webhook.answers = [404]

    with pytest.raises(OutboundFailed) as failed:
        post_json(webhook.url(), {}, policy=loopback_policy(ca))

    assert failed.value.detail == f"{CHAT_HOST} answered 404"
    assert "not-to-be-logged" not in str(failed.value)


def test_an_answer_larger_than_the_limit_is_not_read_further(webhook: WebhookServer, ca: TestCA) -> None:
    webhook.body_bytes = 1024 * 1024

    with pytest.raises(OutboundFailed, match="larger than 4096 bytes"):
        post_json(webhook.url(), {}, policy=loopback_policy(ca, max_response_bytes=4096))


def test_a_server_that_never_answers_fails_within_the_time_allowed(ca: TestCA) -> None:
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(1)  # connections complete in the backlog; nobody ever speaks TLS
    try:
        url = f"https://{CHAT_HOST}:{silent.getsockname()[1]}/hook"
        started = time.monotonic()
        with pytest.raises(OutboundFailed, match="timed out"):
            post_json(url, {}, policy=loopback_policy(ca, timeout_seconds=0.5))
        assert time.monotonic() - started < 3
    finally:
        silent.close()


# --- DNS rebinding: the connection goes to the address that was checked ---------------------------------------


@pytest.fixture
def rebinding_pair(ca: TestCA) -> Iterator[tuple[WebhookServer, Listener]]:
    """The webhook on 127.0.0.2 (standing in for a public address) and a listener on 127.0.0.1, same port."""
    for _ in range(20):
        server = WebhookServer(ca, host="127.0.0.2")
        try:
            private = Listener("127.0.0.1", port=server.port)
        except OSError:  # that port is taken on 127.0.0.1: try another
            server.close()
            continue
        yield server, private
        server.close()
        private.close()
        return
    pytest.fail("no port free on both 127.0.0.1 and 127.0.0.2")


def test_a_rebinding_name_is_connected_only_at_the_address_it_was_checked_at(
    rebinding_pair: tuple[WebhookServer, Listener], ca: TestCA, connections: Connections
) -> None:
    public, private = rebinding_pair
    resolver = StubResolver({CHAT_HOST: [["127.0.0.2"], ["127.0.0.1"]]})  # first answer "public", then private
    policy = OutboundPolicy(
        private_networks=(ipaddress.ip_network("127.0.0.2/32"),), resolver=resolver, ca_certs=str(ca.bundle)
    )

    assert post_json(public.url(), {"text": "once"}, policy=policy) == 200

    assert resolver.lookups == [CHAT_HOST]  # resolved once, for the check and the connection alike
    assert connections.opened == ["127.0.0.2"]
    assert public.count() == 1
    assert private.count() == 0


def test_a_pool_manager_connection_resolves_again_and_refuses_a_name_that_now_resolves_privately(
    rebinding_pair: tuple[WebhookServer, Listener], ca: TestCA, connections: Connections
) -> None:
    public, private = rebinding_pair
    resolver = StubResolver({CHAT_HOST: [["127.0.0.2"], ["127.0.0.1"]]})
    policy = OutboundPolicy(private_networks=(ipaddress.ip_network("127.0.0.2/32"),), resolver=resolver)
    check_url(public.url(), policy=policy)  # when it was saved, it resolved to an allowed address
    manager = outbound.GuardedPoolManager(outbound_policy=policy, ca_certs=str(ca.bundle), retries=False, timeout=5.0)

    with pytest.raises(Exception, match=r"refused: chat\.example\.test resolves to 127\.0\.0\.1"):
        manager.request("GET", public.url())

    assert connections.opened == []
    assert private.count() == 0
    assert public.count() == 0


def test_the_pool_manager_refuses_plain_http(listener: Listener, connections: Connections) -> None:
    manager = outbound.GuardedPoolManager(outbound_policy=OutboundPolicy(private_networks=(LOOPBACK,)))

    with pytest.raises(Exception, match=r"https only"):
        manager.request("GET", f"http://127.0.0.1:{listener.port}/")

    assert listener.count() == 0
    assert connections.opened == []
