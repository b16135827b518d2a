"""System checks of the payments app's settings: refuse to start with a webhook secret that cannot verify."""

from django.core.checks import Error, register

from . import webhooks


@register()
def webhook_secrets_check(app_configs, **kwargs) -> list[Error]:
    errors = []
    for index, secret in enumerate(webhooks.configured_secrets()):
        try:
            webhooks.webhook_secret_key(secret)
        except ValueError as exc:
            errors.append(Error(
                f"MINTGUARD_PROVIDER_WEBHOOK_SECRET: secret #{index + 1} is unusable: {exc}.",
                hint="Use the provider's secret as given, `whsec_` followed by base64.",
                id="payments.E001",
            ))
    return errors
