"""Standard Webhooks signatures on the provider's webhooks: verify what comes in, sign for the demo.

The Standard Webhooks scheme, checked and signed by its reference library, `standardwebhooks`:

- headers `webhook-id`, `webhook-timestamp` (unix seconds) and `webhook-signature`;
- the signed content is `{webhook-id}.{webhook-timestamp}.{raw body}`, byte for byte as received
  (verify before parsing: re-serialised JSON would not be the bytes that were signed);
- the signature is base64(HMAC-SHA256(key, signed content)), sent as `v1,<base64>`; the header
  may carry several, space-separated (a provider rotating its secret signs with both);
- a secret is `whsec_<base64>` and the HMAC key is the base64-decoded part. A secret pasted
  without its prefix is base64-decoded too, as the reference libraries do; one that is not base64
  at all (the development and test defaults are such strings) is used as its raw UTF-8 bytes
  (`mintguard_site.conf.webhook_secret_key`; the library is handed the key, not the secret);
- a timestamp more than 5 minutes from our clock is refused, so a captured delivery cannot be
  replayed later; within the window, the event id's uniqueness makes a replay a harmless duplicate.

MINTGUARD_PROVIDER_WEBHOOK_SECRET holds one secret or several, comma-separated: all verify (the
library knows one secret, so each is tried in turn), the first signs. The library compares in
constant time (`hmac.compare_digest`). Before it runs, the headers are checked here for what it
would let through or trip on: an id we could not store, a timestamp that is not plain unix
seconds, and signatures that are not `v1,` + the base64 of 32 bytes (the library stops at the
first it cannot decode, which must not hide a valid one after it).
"""

import base64
import hashlib
import logging
import re
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from math import floor

import standardwebhooks
from django.conf import settings
from standardwebhooks.webhooks import hmac_data

from mintguard_site.conf import webhook_secret_key

logger = logging.getLogger(__name__)

SIGNATURE_VERSION = "v1"
TOLERANCE_SECONDS = 5 * 60
MAX_WEBHOOK_ID_LENGTH = 255
ID_HEADER, TIMESTAMP_HEADER, SIGNATURE_HEADER = "webhook-id", "webhook-timestamp", "webhook-signature"
# A v1 signature as the scheme writes it: base64 of an HMAC-SHA256 (32 bytes: 43 characters and "=").
V1_SIGNATURE = re.compile(r"v1,[A-Za-z0-9+/]{43}=")
# What an operator needs to see of a delivery; values are cut to this length when stored.
HEADERS_OF_INTEREST = (ID_HEADER, TIMESTAMP_HEADER, SIGNATURE_HEADER, "content-type", "content-length", "user-agent")
STORED_HEADER_LENGTH = 512
# Of a body that failed its signature, the bytes kept for operators: anyone can send one, so what it
# costs the database must not grow with what was sent (its hash and length say the rest).
REFUSED_BODY_PREFIX = 1024


class WebhookVerificationError(Exception):
    """A delivery that does not prove it comes from the provider; the message says why."""


class RawBodyWebhook(standardwebhooks.Webhook):
    """The library's `Webhook`, signing a body's exact bytes.

    The library takes the body as text and signs its UTF-8 encoding, but the scheme signs the raw
    body: a signed body that is not UTF-8 is the parser's to refuse (400), not a bad signature
    (401). So bodies reach it decoded with `surrogateescape`, which this signer encodes back to
    the very bytes that arrived; for a UTF-8 body that is exactly the library's own signature.
    """

    def sign(self, msg_id: str, timestamp: datetime, data: str) -> str:
        stamp = floor(timestamp.replace(tzinfo=UTC).timestamp())
        signed = f"{msg_id}.{stamp}.{data}".encode("utf-8", "surrogateescape")
        return f"{SIGNATURE_VERSION},{base64.b64encode(hmac_data(self._whsecret, signed)).decode()}"


def configured_secrets() -> list[str]:
    """Return the configured signing secrets, the one that signs first."""
    raw = settings.MINTGUARD_PROVIDER_WEBHOOK_SECRET
    return [secret.strip() for secret in raw.split(",") if secret.strip()]


def _signers(secrets: list[str]) -> list[RawBodyWebhook]:
    signers = []
    for index, secret in enumerate(secrets):
        try:
            signers.append(RawBodyWebhook(webhook_secret_key(secret)))
        except ValueError as exc:
            # Refused at startup by the payments.E001 check; never a 500 on a delivery.
            logger.error("webhook secret #%d is unusable: %s", index + 1, exc)
    return signers


def _text(body: bytes) -> str:
    return body.decode("utf-8", "surrogateescape")


def sign(*, secret: str, webhook_id: str, body: bytes, timestamp: int | None = None) -> dict[str, str]:
    """Return the three Standard Webhooks headers for a delivery of `body` signed with `secret`."""
    stamp = int(time.time()) if timestamp is None else timestamp
    signer = RawBodyWebhook(webhook_secret_key(secret))
    return {
        ID_HEADER: webhook_id,
        TIMESTAMP_HEADER: str(stamp),
        SIGNATURE_HEADER: signer.sign(webhook_id, datetime.fromtimestamp(stamp, tz=UTC), _text(body)),
    }


def verify(*, headers: Mapping[str, str], body: bytes, secrets: list[str]) -> None:
    """Return if one of the delivery's signatures matches one of the secrets; else raise WebhookVerificationError."""
    webhook_id = headers.get(ID_HEADER)
    timestamp = headers.get(TIMESTAMP_HEADER)
    signatures = headers.get(SIGNATURE_HEADER)
    missing = [name for name, value in ((ID_HEADER, webhook_id), (TIMESTAMP_HEADER, timestamp),
                                        (SIGNATURE_HEADER, signatures)) if not value]
    if missing:
        raise WebhookVerificationError(f"Missing header(s): {', '.join(missing)}.")
    if len(webhook_id) > MAX_WEBHOOK_ID_LENGTH or not webhook_id.isascii() or not webhook_id.isprintable():
        raise WebhookVerificationError(f"{ID_HEADER} must be 1-{MAX_WEBHOOK_ID_LENGTH} printable ASCII characters.")
    if not (timestamp.isascii() and timestamp.isdigit()) or len(timestamp) > 12:
        raise WebhookVerificationError(f"{TIMESTAMP_HEADER} must be unix seconds.")
    # The library checks the window too, but words it its own way; this is the 401's detail.
    if abs(time.time() - int(timestamp)) > TOLERANCE_SECONDS:
        raise WebhookVerificationError(
            f"{TIMESTAMP_HEADER} is more than {TOLERANCE_SECONDS // 60} minutes from the server's clock."
        )
    offered = " ".join(candidate for candidate in signatures.split(" ") if V1_SIGNATURE.fullmatch(candidate))
    delivery = {ID_HEADER: webhook_id, TIMESTAMP_HEADER: timestamp, SIGNATURE_HEADER: offered}
    content = _text(body)
    # Every secret is tried, without stopping at a match: the time taken says nothing about which one.
    matched = False
    for signer in _signers(secrets) if offered else []:
        try:
            signer.verify(content, delivery, json_parse=False)
            matched = True
        except standardwebhooks.WebhookVerificationError:
            pass
    if not matched:
        raise WebhookVerificationError("No valid signature for this webhook.")


def headers_of_interest(headers: Mapping[str, str]) -> dict[str, str]:
    """Return the headers an operator needs to see of a delivery, each cut to a storable length."""
    return {
        name: _storable(value)[:STORED_HEADER_LENGTH]
        for name in HEADERS_OF_INTEREST
        if (value := headers.get(name)) is not None
    }


def storable_body(body: bytes, *, limit: int) -> str:
    """Return the body as text a database can store: decoded leniently, cut to `limit` characters."""
    return _storable(body[:limit].decode("utf-8", errors="replace"))


def refused_body_fields(body: bytes) -> dict:
    """Return what is kept of a body that failed its signature: a bounded prefix, the whole's SHA-256 and length."""
    return {
        "body": storable_body(body, limit=REFUSED_BODY_PREFIX),
        "body_sha256": hashlib.sha256(body).hexdigest(),
        "body_length": len(body),
    }


def _storable(text: str) -> str:
    # PostgreSQL text and jsonb cannot hold NUL; an attacker's body must not turn into a 500.
    return text.replace("\x00", "\ufffd")
