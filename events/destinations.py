"""Where webhooks may go, and the one way they are sent: the SSRF guard.

A webhook URL is chosen by an API client and fetched by our servers, so it must not reach what
only our servers can reach (the cloud's metadata service at 169.254.169.254, the database, an admin
port on loopback, the private network). The guard, on create and update AND on every attempt:

- the URL is `https://` (`http://` only with MINTGUARD_WEBHOOK_ALLOW_INSECURE), with a host and no
  credentials in it;
- its host is resolved once (`socket.getaddrinfo`) and refused if ANY address it resolves to is
  not public: loopback, private, link-local, multicast, reserved, unspecified, shared (CGNAT),
  and the IPv6 forms that carry an IPv4 address (IPv4-mapped `::ffff:a.b.c.d`, 6to4 `2002::/16`,
  NAT64 `64:ff9b::/96`) are judged by the IPv4 address inside them. `ipaddress`'s `is_global`
  is the basis, with each kind named for the error message;
- the request then CONNECTS to an address that was checked: a urllib3 pool opened on the IP
  itself, with the host name sent as SNI and `Host`, and the certificate verified against the
  host name (`server_hostname`, `assert_hostname`). No second DNS lookup happens, so a name that
  resolves to a public address for the check and to 127.0.0.1 for the connection (DNS
  rebinding) cannot slip through;
- 10 seconds for the whole exchange (a 2xx that takes longer counts as a failure), redirects
  never followed (a 3xx is a failure), at most 64 KiB of the answer read, no proxy from the
  environment (urllib3 pools read none).

MINTGUARD_WEBHOOK_ALLOW_INSECURE=true (development and tests) skips the address check and allows
`http://`; the connection is still made to the address resolved here.
"""

import ipaddress
import socket
import time
from dataclasses import dataclass

import urllib3
from django.conf import settings
from urllib3.exceptions import ConnectTimeoutError, HTTPError, LocationParseError, NewConnectionError
from urllib3.util import Url, parse_url

from .exceptions import InvalidWebhookUrl, WebhookUrlRefused

TIMEOUT_SECONDS = 10.0
MAX_RESPONSE_BYTES = 64 * 1024
MAX_URL_LENGTH = 2048
ERROR_MAX_LENGTH = 500
USER_AGENT = "MintGuard-Webhooks/1"
NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


@dataclass(frozen=True)
class Destination:
    """A webhook URL that passed the guard, with the addresses it may be connected to."""

    scheme: str
    host: str  # the name (or IP literal, without brackets): SNI, certificate check
    port: int
    netloc: str  # the Host header
    target: str  # path and query
    addresses: tuple[str, ...]


@dataclass(frozen=True)
class Outcome:
    """What one POST came to: the status code, or the error that stopped it (or both: a 2xx too late)."""

    status_code: int | None
    error: str
    duration_ms: int

    @property
    def delivered(self) -> bool:
        return not self.error and self.status_code is not None and 200 <= self.status_code < 300


def _parsed(url) -> Url:
    """Parse a webhook URL, or raise InvalidWebhookUrl saying what is wrong with it."""
    if not isinstance(url, str) or not url or len(url) > MAX_URL_LENGTH:
        raise InvalidWebhookUrl(f"The URL must be a string of 1 to {MAX_URL_LENGTH} characters.")
    if any(char.isspace() or not char.isprintable() for char in url):
        raise InvalidWebhookUrl("The URL must not contain spaces or control characters.")
    try:
        parsed = parse_url(url)
    except LocationParseError:
        raise InvalidWebhookUrl("The URL does not parse.") from None
    allowed = ("https", "http") if settings.MINTGUARD_WEBHOOK_ALLOW_INSECURE else ("https",)
    if parsed.scheme not in allowed:
        raise InvalidWebhookUrl("The URL must start with https://.")
    if not parsed.host:
        raise InvalidWebhookUrl("The URL must name a host.")
    if parsed.auth is not None:
        raise InvalidWebhookUrl("The URL must not carry credentials (user:password@).")
    return parsed


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address stands for: IPv4-mapped, 6to4 or NAT64; else None."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFF_FFFF)
    return None


def address_refusal(address: str) -> str | None:
    """Say why we may not connect to `address` (e.g. "a loopback address"), or None if it is public."""
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and (embedded := _embedded_ipv4(ip)) is not None:
        reason = address_refusal(str(embedded))
        return f"an IPv6 form of {embedded}, {reason}" if reason else None
    for kind, is_kind in (("an unspecified", ip.is_unspecified), ("a loopback", ip.is_loopback),
                          ("a link-local", ip.is_link_local), ("a multicast", ip.is_multicast),
                          ("a private", ip.is_private), ("a reserved", ip.is_reserved)):
        if is_kind:
            return f"{kind} address"
    return None if ip.is_global else "not a public address"


def destination_resolve(url) -> Destination:
    """Check a webhook URL and resolve its host once; raise InvalidWebhookUrl or WebhookUrlRefused."""
    parsed = _parsed(url)
    host = parsed.host.strip("[]")
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        raise WebhookUrlRefused(f"The host {host} does not resolve.") from None
    addresses = tuple(dict.fromkeys(str(sockaddr[0]) for *_, sockaddr in found))
    if not addresses:
        raise WebhookUrlRefused(f"The host {host} does not resolve.")
    if not settings.MINTGUARD_WEBHOOK_ALLOW_INSECURE:
        for address in addresses:
            reason = address_refusal(address)
            if reason:
                raise WebhookUrlRefused(f"The host {host} resolves to {address}, {reason}: webhooks go to public "
                                        "addresses only.")
    return Destination(scheme=parsed.scheme, host=host, port=port, netloc=parsed.netloc,
                       target=parsed.request_uri, addresses=addresses)


def url_check(url) -> str:
    """Return the URL if webhooks may be sent to it now; raise InvalidWebhookUrl or WebhookUrlRefused."""
    destination_resolve(url)
    return url


def _pool(destination: Destination, address: str, timeout: float) -> urllib3.HTTPConnectionPool:
    """A one-connection pool on the checked `address`, speaking TLS to (and verifying) the host's name."""
    options = {"timeout": urllib3.Timeout(total=timeout), "retries": False, "maxsize": 1}
    if destination.scheme == "https":
        return urllib3.HTTPSConnectionPool(address, destination.port, cert_reqs="CERT_REQUIRED",
                                           server_hostname=destination.host, assert_hostname=destination.host,
                                           **options)
    return urllib3.HTTPConnectionPool(address, destination.port, **options)


def _exchange(destination: Destination, *, body: bytes, headers: dict[str, str], deadline: float) -> int:
    """POST to the first checked address that accepts a connection; return the status code."""
    headers = {**headers, "Host": destination.netloc, "User-Agent": USER_AGENT}
    refused: Exception | None = None
    for address in destination.addresses:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        with _pool(destination, address, remaining) as pool:
            try:
                response = pool.urlopen("POST", destination.target, body=body, headers=headers, redirect=False,
                                        retries=False, assert_same_host=False, preload_content=False,
                                        decode_content=False)
            except (NewConnectionError, ConnectTimeoutError) as exc:
                refused = exc  # this address does not answer: try the next one the name resolved to
                continue
            try:
                response.read(MAX_RESPONSE_BYTES)  # read, and drop, what the receiver says: at most 64 KiB
            finally:
                response.close()
            return response.status
    raise refused or ConnectTimeoutError(f"No answer within {TIMEOUT_SECONDS:g} s.")


def post(url: str, *, body: bytes, headers: dict[str, str]) -> Outcome:
    """POST a webhook through the guard and say what came of it; never raise for what the network does."""
    started = time.monotonic()
    status_code, error = None, ""
    try:
        destination = destination_resolve(url)
        status_code = _exchange(destination, body=body, headers=headers, deadline=started + TIMEOUT_SECONDS)
    except (InvalidWebhookUrl, WebhookUrlRefused) as exc:
        error = exc.detail
    except (HTTPError, OSError) as exc:
        error = f"{type(exc).__name__}: {exc}"
    duration = time.monotonic() - started
    if not error and duration > TIMEOUT_SECONDS:
        error = f"The answer took {duration:.1f} s, more than {TIMEOUT_SECONDS:g} s."
    return Outcome(status_code=status_code, error=error[:ERROR_MAX_LENGTH], duration_ms=round(duration * 1000))
