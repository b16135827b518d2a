"""Standard Webhooks signing and verification, checked against the specification's published vector
and against the `standardwebhooks` reference library itself."""

import time
from datetime import UTC, datetime

import pytest
import standardwebhooks
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from payments import webhooks

# The test vector published with the Standard Webhooks specification (and Svix's docs).
VECTOR_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
VECTOR_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
VECTOR_TIMESTAMP = 1614265330
VECTOR_BODY = b'{"test": 2432232314}'
VECTOR_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def vector_headers(**overrides) -> dict:
    return {
        "webhook-id": VECTOR_ID, "webhook-timestamp": str(VECTOR_TIMESTAMP), "webhook-signature": VECTOR_SIGNATURE,
        **overrides,
    }


def fresh_headers(*, body: bytes = VECTOR_BODY, timestamp: int | None = None, **overrides) -> dict:
    """The vector's secret and id signing `body` now (the library checks the timestamp against its own clock)."""
    return {**webhooks.sign(secret=VECTOR_SECRET, webhook_id=VECTOR_ID, body=body, timestamp=timestamp), **overrides}


def verify(headers: dict, *, body: bytes = VECTOR_BODY, secrets: list[str] | None = None) -> None:
    webhooks.verify(headers=headers, body=body, secrets=[VECTOR_SECRET] if secrets is None else secrets)


def test_signing_reproduces_the_specification_vector():
    headers = webhooks.sign(secret=VECTOR_SECRET, webhook_id=VECTOR_ID, body=VECTOR_BODY, timestamp=VECTOR_TIMESTAMP)

    assert headers == vector_headers()


def test_a_payload_signed_by_the_library_itself_verifies_and_a_tampered_one_is_refused():
    signer = standardwebhooks.Webhook(VECTOR_SECRET)
    now = datetime.now(UTC)
    headers = {"webhook-id": VECTOR_ID, "webhook-timestamp": str(int(now.timestamp())),
               "webhook-signature": signer.sign(VECTOR_ID, now, VECTOR_BODY.decode())}

    verify(headers)
    with pytest.raises(webhooks.WebhookVerificationError):
        verify(headers, body=VECTOR_BODY.replace(b"4}", b"5}"))
    with pytest.raises(webhooks.WebhookVerificationError):
        verify({**headers, "webhook-id": "msg_other"})


def test_what_we_sign_the_library_verifies():
    headers = fresh_headers()

    standardwebhooks.Webhook(VECTOR_SECRET).verify(VECTOR_BODY, headers)


def test_a_secret_pasted_without_its_prefix_verifies_the_same():
    verify(fresh_headers(), secrets=[VECTOR_SECRET.removeprefix("whsec_")])


@pytest.mark.parametrize("change", [
    {"webhook-id": "msg_other"},
    {"webhook-signature": VECTOR_SIGNATURE},
    {"webhook-signature": "v2,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="},
    {"webhook-signature": "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OA="},
    {"webhook-signature": "g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="},
])
def test_any_change_to_the_signed_headers_fails(change):
    with pytest.raises(webhooks.WebhookVerificationError):
        verify(fresh_headers(**change))


def test_a_changed_timestamp_fails():
    headers = fresh_headers()

    with pytest.raises(webhooks.WebhookVerificationError):
        verify({**headers, "webhook-timestamp": str(int(headers["webhook-timestamp"]) - 1)})


def test_a_changed_body_fails():
    with pytest.raises(webhooks.WebhookVerificationError):
        verify(fresh_headers(), body=b'{"test": 2432232315}')


# 298 and 302: the header holds whole seconds and a little time passes between signing and checking.
@pytest.mark.parametrize(("skew", "accepted"), [(298, True), (-298, True), (302, False), (-302, False)])
def test_the_tolerance_is_five_minutes_either_way(skew, accepted):
    headers = fresh_headers(timestamp=int(time.time()) + skew)

    if accepted:
        verify(headers)
    else:
        with pytest.raises(webhooks.WebhookVerificationError, match="5 minutes"):
            verify(headers)


def test_several_secrets_and_several_signatures_match_any_pair():
    rotated = "whsec_" + "c2VjcmV0LW9mLWEtcm90YXRlZC1lbmRwb2ludA=="
    valid = fresh_headers()["webhook-signature"]
    header = f"v1,bm90LXRoaXM= v1a,ignored-asymmetric {valid}"

    verify(fresh_headers(**{"webhook-signature": header}), secrets=[rotated, VECTOR_SECRET])
    with pytest.raises(webhooks.WebhookVerificationError):
        verify(fresh_headers(**{"webhook-signature": header}), secrets=[rotated])


def test_a_malformed_signature_does_not_hide_a_valid_one_after_it():
    valid = fresh_headers()["webhook-signature"]

    verify(fresh_headers(**{"webhook-signature": f"v1,bogus v1,a,b nonsense {valid}"}))


def test_a_signed_body_that_is_not_utf8_still_verifies_so_the_parser_can_refuse_it():
    body = b'\xff\xfe{"test": 1}'

    verify(fresh_headers(body=body), body=body)


def test_secrets_are_read_comma_separated_with_the_signing_one_first(settings):
    settings.MINTGUARD_PROVIDER_WEBHOOK_SECRET = f" {VECTOR_SECRET} ,whsec_c2Vjb25k ,"

    assert webhooks.configured_secrets() == [VECTOR_SECRET, "whsec_c2Vjb25k"]


def test_a_whsec_secret_that_is_not_base64_is_refused_by_the_system_check(settings):
    settings.MINTGUARD_PROVIDER_WEBHOOK_SECRET = f"{VECTOR_SECRET},whsec_not base64!"

    with pytest.raises(ValueError):
        webhooks.webhook_secret_key("whsec_not base64!")
    with pytest.raises(SystemCheckError, match="payments.E001"):
        call_command("check")
    # and a delivery still verifies with the usable one instead of failing with a 500
    verify(fresh_headers(), secrets=webhooks.configured_secrets())


def test_a_secret_that_is_not_base64_at_all_is_used_as_raw_bytes():
    assert webhooks.webhook_secret_key("dev-only-webhook-secret") == b"dev-only-webhook-secret"
