"""Standard Webhooks signing and verification, checked against the specification's published vector."""

import pytest
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


def test_signing_reproduces_the_specification_vector():
    headers = webhooks.sign(secret=VECTOR_SECRET, webhook_id=VECTOR_ID, body=VECTOR_BODY, timestamp=VECTOR_TIMESTAMP)

    assert headers == vector_headers()


def test_verifying_accepts_the_specification_vector():
    webhooks.verify(headers=vector_headers(), body=VECTOR_BODY, secrets=[VECTOR_SECRET], now=VECTOR_TIMESTAMP + 60)


def test_a_secret_pasted_without_its_prefix_verifies_the_same():
    webhooks.verify(headers=vector_headers(), body=VECTOR_BODY, secrets=[VECTOR_SECRET.removeprefix("whsec_")],
                    now=VECTOR_TIMESTAMP)


@pytest.mark.parametrize("change", [
    {"webhook-id": "msg_other"},
    {"webhook-timestamp": str(VECTOR_TIMESTAMP + 1)},
    {"webhook-signature": VECTOR_SIGNATURE.replace("v1,", "v2,")},
    {"webhook-signature": VECTOR_SIGNATURE[:-2] + "A="},
    {"webhook-signature": VECTOR_SIGNATURE.removeprefix("v1,")},
])
def test_any_change_to_the_signed_headers_fails(change):
    with pytest.raises(webhooks.WebhookVerificationError):
        webhooks.verify(headers=vector_headers(**change), body=VECTOR_BODY, secrets=[VECTOR_SECRET],
                        now=VECTOR_TIMESTAMP)


def test_a_changed_body_fails():
    with pytest.raises(webhooks.WebhookVerificationError):
        webhooks.verify(headers=vector_headers(), body=b'{"test": 2432232315}', secrets=[VECTOR_SECRET],
                        now=VECTOR_TIMESTAMP)


@pytest.mark.parametrize(("skew", "accepted"), [(300, True), (-300, True), (301, False), (-301, False)])
def test_the_tolerance_is_five_minutes_either_way(skew, accepted):
    def check():
        webhooks.verify(headers=vector_headers(), body=VECTOR_BODY, secrets=[VECTOR_SECRET],
                        now=VECTOR_TIMESTAMP + skew)

    if accepted:
        check()
    else:
        with pytest.raises(webhooks.WebhookVerificationError, match="5 minutes"):
            check()


def test_several_secrets_and_several_signatures_match_any_pair():
    rotated = "whsec_" + "c2VjcmV0LW9mLWEtcm90YXRlZC1lbmRwb2ludA=="
    header = f"v1,bm90LXRoaXM= v1a,ignored-asymmetric {VECTOR_SIGNATURE}"

    webhooks.verify(headers=vector_headers(**{"webhook-signature": header}), body=VECTOR_BODY,
                    secrets=[rotated, VECTOR_SECRET], now=VECTOR_TIMESTAMP)
    with pytest.raises(webhooks.WebhookVerificationError):
        webhooks.verify(headers=vector_headers(**{"webhook-signature": header}), body=VECTOR_BODY,
                        secrets=[rotated], now=VECTOR_TIMESTAMP)


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
    webhooks.verify(headers=vector_headers(), body=VECTOR_BODY, secrets=webhooks.configured_secrets(),
                    now=VECTOR_TIMESTAMP)


def test_a_secret_that_is_not_base64_at_all_is_used_as_raw_bytes():
    assert webhooks.webhook_secret_key("dev-only-webhook-secret") == b"dev-only-webhook-secret"
