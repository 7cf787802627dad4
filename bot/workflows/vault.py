"""Payment tokens at rest: encrypted with a configured key, never stored in clear.

Fernet (AES-128-CBC with HMAC-SHA256, from ``cryptography``) rather than a
hand-rolled scheme: authenticated, versioned, and MultiFernet rotates keys
(new key first, old keys still decrypt).
"""

from __future__ import annotations

import json
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from bot.config import ConfigurationError


class VaultError(Exception):
    """The stored tokens cannot be decrypted (wrong or rotated-away key)."""


class TokenVault:
    def __init__(self, keys: str) -> None:
        names = [k.strip() for k in keys.split(",") if k.strip()]
        if not names:
            raise ConfigurationError(
                "FRONTDESK_PAYMENT_TOKEN_KEYS is not set: sales need a key to encrypt "
                "payment tokens (make one with `frontdesk keygen`)"
            )
        try:
            self._fernet = MultiFernet([Fernet(k.encode()) for k in names])
        except ValueError as exc:
            raise ConfigurationError(
                "FRONTDESK_PAYMENT_TOKEN_KEYS holds something that is not a Fernet key"
            ) from exc

    @staticmethod
    def new_key() -> str:
        return Fernet.generate_key().decode()

    def seal(self, value: Any) -> str:
        return self._fernet.encrypt(json.dumps(value).encode()).decode()

    def open(self, sealed: str) -> Any:
        try:
            return json.loads(self._fernet.decrypt(sealed.encode()))
        except InvalidToken as exc:
            raise VaultError("payment tokens cannot be decrypted with the configured keys") from exc
