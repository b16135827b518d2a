"""Secrets stored at rest (webhook signing secrets): encrypted with Fernet under rotating keys.

MINTGUARD_ENCRYPTION_KEYS holds one Fernet key or several, comma-separated: the first encrypts,
every one decrypts (cryptography's `MultiFernet`). To rotate: put a new key first, keep the old
ones after it, run `manage.py rotate_encryption_keys` (every stored secret is re-encrypted with
the first key), then drop the old keys. A token names no key, so a secret encrypted under a key
that is no longer configured does not decrypt: `SecretUndecryptable`, never plaintext.

Fernet is AES-128-CBC with an HMAC-SHA256 over the ciphertext: a token that was tampered with,
or made under another key, is refused rather than decrypted to garbage.
"""

import base64
import functools
import hashlib

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


class SecretUndecryptable(Exception):
    """A stored token that none of the configured keys decrypts (tampered, or its key was removed)."""


def parse_encryption_keys(name: str, keys: list[str]) -> list[str]:
    """Return `keys` if each is a Fernet key (url-safe base64 of 32 bytes); else refuse at startup."""
    for index, key in enumerate(keys):
        try:
            Fernet(key)
        except (ValueError, TypeError):
            raise ImproperlyConfigured(
                f"{name}: key #{index + 1} is not a Fernet key (url-safe base64 of 32 bytes: "
                "`cryptography.fernet.Fernet.generate_key()` makes one)."
            ) from None
    return keys


def key_derived_from(secret_key: str) -> str:
    """A Fernet key derived from SECRET_KEY: the development and test default, never production's."""
    digest = hashlib.sha256(b"mintguard.secrets_at_rest:" + secret_key.encode()).digest()
    return base64.urlsafe_b64encode(digest).decode()


@functools.lru_cache(maxsize=4)
def _fernet_for(keys: tuple[str, ...]) -> MultiFernet:
    return MultiFernet([Fernet(key) for key in keys])


def _fernet() -> MultiFernet:
    # Keyed by the setting's value, so override_settings in a test takes effect at once.
    return _fernet_for(tuple(settings.MINTGUARD_ENCRYPTION_KEYS))


def encrypt(plaintext: str) -> str:
    """Encrypt with the first configured key; return the token as text."""
    return _fernet().encrypt(plaintext.encode()).decode()


def decrypt(token: str) -> str:
    """Decrypt a token made under any configured key; raise SecretUndecryptable otherwise."""
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken:
        raise SecretUndecryptable("No configured encryption key decrypts this secret.") from None


def reencrypt(token: str) -> str:
    """Return the token re-encrypted with the first configured key (the plaintext never leaves here)."""
    try:
        return _fernet().rotate(token.encode()).decode()
    except InvalidToken:
        raise SecretUndecryptable("No configured encryption key decrypts this secret.") from None
