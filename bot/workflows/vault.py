"""Payment tokens at rest: encrypted with a configured key, never stored in clear.

Fernet (AES-128-CBC with HMAC-SHA256, from ``cryptography``) rather than a
hand-rolled scheme: authenticated, versioned, and MultiFernet rotates keys
(new key first, old keys still decrypt).
"""

from __future__ import annotations

import json
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from bot.config import parse_fernet_keys


class VaultError(Exception):
    """The stored tokens cannot be decrypted (wrong or rotated-away key)."""


class TokenVault:
    def __init__(self, keys: str) -> None:
        self._fernet = MultiFernet([Fernet(key) for key in parse_fernet_keys(keys)])

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
