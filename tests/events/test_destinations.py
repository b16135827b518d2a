"""The SSRF guard: where webhooks may go, checked on create, on update and on every attempt.

Without MINTGUARD_WEBHOOK_ALLOW_INSECURE nothing here connects anywhere: every refusal happens
before a connection. DNS is outside the process, so a test that needs a name resolving to a
public address replaces `socket.getaddrinfo` for that name only (nothing is ever sent there).
"""

import socket

import pytest

from events import destinations, services, tasks
from events.exceptions import InvalidWebhookUrl, WebhookUrlRefused
from events.models import Delivery, DeliveryAttempt, DeliveryStatus
from events.services import event_record

pytestmark = pytest.mark.django_db

PUBLIC = "93.184.215.14"  # a public address; never connected to by these tests
real_getaddrinfo = socket.getaddrinfo


class Dns:
    """`socket.getaddrinfo` with some names answered from a table (each answer used in turn); logs every name asked."""

    def __init__(self, monkeypatch):
        self.table: dict[str, list[list[str]]] = {}
        self.asked: list[str] = []
        monkeypatch.setattr(socket, "getaddrinfo", self)

    def answer(self, name: str, *answers: list[str]) -> None:
        self.table[name] = list(answers)

    def __call__(self, host, port, *args, **kwargs):
        self.asked.append(host)
        if host not in self.table:
            return real_getaddrinfo(host, port, *args, **kwargs)
        addresses = self.table[host].pop(0) if len(self.table[host]) > 1 else self.table[host][0]
        return [(socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "",
                 (a, port)) for a in addresses]


@pytest.fixture
def dns(monkeypatch):
    return Dns(monkeypatch)


@pytest.mark.parametrize("url, kind", [
    ("https://127.0.0.1/hook", "a loopback address"),
    ("https://127.1:8443/hook", "a loopback address"),
    ("https://[::1]/hook", "a loopback address"),
    ("https://10.0.0.8/hook", "a private address"),
    ("https://172.16.3.4/hook", "a private address"),
    ("https://172.31.255.1/hook", "a private address"),
    ("https://192.168.1.20/hook", "a private address"),
    ("https://169.254.169.254/latest/meta-data/", "a link-local address"),
    ("https://[fe80::1]/hook", "a link-local address"),
    ("https://[fd00::7]/hook", "a private address"),
    ("https://[::ffff:127.0.0.1]/hook", "an IPv6 form of 127.0.0.1, a loopback address"),
    ("https://[::ffff:10.1.2.3]/hook", "an IPv6 form of 10.1.2.3, a private address"),
    ("https://[2002:a9fe:a9fe::1]/hook", "an IPv6 form of 169.254.169.254, a link-local address"),
    ("https://[64:ff9b::7f00:1]/hook", "an IPv6 form of 127.0.0.1, a loopback address"),
    ("https://0.0.0.0/hook", "an unspecified address"),
    ("https://[::]/hook", "an unspecified address"),
    ("https://224.0.0.1/hook", "a multicast address"),
    ("https://100.64.0.1/hook", "not a public address"),
    ("https://localhost/hook", "a loopback address"),
])
def test_a_url_that_reaches_a_non_public_address_is_refused(url, kind):
    with pytest.raises(WebhookUrlRefused) as refused:
        destinations.url_check(url)

    assert kind in refused.value.detail and refused.value.code == "webhook_url_refused"


@pytest.mark.parametrize("url", ["http://93.184.215.14/hook", "ftp://93.184.215.14/", "https://u:p@93.184.215.14/",
                                 "//93.184.215.14/x", "https://93.184.215.14/\x00", ""])
def test_a_url_that_is_not_plain_https_is_invalid(url):
    with pytest.raises(InvalidWebhookUrl):
        destinations.url_check(url)


def test_a_name_that_resolves_to_any_private_address_is_refused_even_beside_a_public_one(dns):
    dns.answer("mixed.example", [PUBLIC, "10.0.0.8"])
    dns.answer("public.example", [PUBLIC, "2606:2800:21f:cb07:6820:80da:af6b:8b2c"])

    with pytest.raises(WebhookUrlRefused, match="10.0.0.8, a private address"):
        destinations.url_check("https://mixed.example/hook")
    assert destinations.url_check("https://public.example/hook") == "https://public.example/hook"
    assert destinations.url_check(f"https://{PUBLIC}:8443/hook") == f"https://{PUBLIC}:8443/hook"
    assert destinations.url_check("https://[64:ff9b::5db8:d70e]/hook")  # NAT64 form of a public address


def test_a_name_that_does_not_resolve_is_refused(dns):
    with pytest.raises(WebhookUrlRefused, match="does not resolve"):
        destinations.url_check("https://no-such-host.invalid/hook")


def test_the_insecure_switch_allows_http_and_loopback(insecure):
    assert destinations.url_check("http://127.0.0.1:9/hook") == "http://127.0.0.1:9/hook"
    assert destinations.url_check("http://localhost:9/hook")


def test_a_name_rebound_to_loopback_after_the_check_is_refused_at_delivery_and_nothing_is_sent(dns, receiver):
    # given an endpoint whose name resolved to a public address when it was registered
    dns.answer("rebind.example", [PUBLIC], ["127.0.0.1"])
    endpoint, _ = services.endpoint_create(owner="client-a", url=f"https://rebind.example:{receiver.port}/hook",
                                           events=["*"])
    event = event_record(type="order.paid", owner="client-a", data={"id": "o-1"})
    tasks.event_dispatch.call(str(event.id))

    # when it resolves to loopback by the time of the attempt
    assert tasks.delivery_attempt.call(Delivery.objects.get().pk) == "PENDING"

    # then the attempt is refused before connecting, and retried later (the name may come back)
    assert receiver.received == []
    attempt = DeliveryAttempt.objects.get()
    assert attempt.status_code is None and "127.0.0.1, a loopback address" in attempt.error
    assert Delivery.objects.get().status == DeliveryStatus.PENDING


def test_the_request_connects_to_the_address_checked_with_one_lookup_of_the_name(dns, insecure, receiver):
    # given a name that resolves to the receiver's address for the create and for one more lookup, then to
    # another loopback address where nothing listens (so a second lookup in the attempt would miss the receiver)
    dns.answer("hooks.example", ["127.0.0.1"], ["127.0.0.1"], ["127.0.0.2"])
    services.endpoint_create(owner="client-a", url=f"http://hooks.example:{receiver.port}/in", events=["*"])
    dns.asked.clear()
    event = event_record(type="order.paid", owner="client-a", data={"id": "o-1"})
    tasks.event_dispatch.call(str(event.id))

    assert tasks.delivery_attempt.call(Delivery.objects.get().pk) == "DELIVERED"

    # then the request reached the address of the one lookup, naming the host in its Host header
    [request] = receiver.received
    assert request.headers["Host"] == f"hooks.example:{receiver.port}" and request.path == "/in"
    assert dns.asked.count("hooks.example") == 1 and "127.0.0.2" not in dns.asked


def test_an_https_receiver_is_reached_by_address_with_the_name_for_tls(dns, monkeypatch):
    dns.answer("secure.example", [PUBLIC])
    seen = {}

    class Pool:
        def __init__(self, host, port, **options):
            seen.update(host=host, port=port, **options)
            raise destinations.NewConnectionError(None, "stop here: nothing leaves the machine")

    monkeypatch.setattr(destinations.urllib3, "HTTPSConnectionPool", Pool)

    outcome = destinations.post("https://secure.example/hook", body=b"{}", headers={})

    assert (seen["host"], seen["port"]) == (PUBLIC, 443)
    assert seen["server_hostname"] == seen["assert_hostname"] == "secure.example"
    assert seen["cert_reqs"] == "CERT_REQUIRED" and seen["retries"] is False
    assert outcome.status_code is None and not outcome.delivered
