"""Payment tokens at rest: encrypted with a configured key, never stored in clear;
rotating the keys and retiring the old ones.

Fernet (AES-128-CBC with HMAC-SHA256, from ``cryptography``) rather than a
hand-rolled scheme: authenticated, versioned, and MultiFernet rotates keys
(new key first, old keys still decrypt).

A wiped token's bytes can outlive the wipe where no scrub reaches (backups,
PostgreSQL's WAL archives, replicas, freed disk blocks: storage/scrub.py), sealed
under the key of the day. :func:`rotate` re-seals every token still held under
the newest key and :func:`key_use` says when no sealed value needs an older key,
so that it can be removed from ``FRONTDESK_PAYMENT_TOKEN_KEYS`` and destroyed:
from then on, whatever it sealed cannot be opened by anyone.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sqlalchemy import select, update

from bot.clock import Clock
from bot.config import parse_fernet_keys
from bot.workflows import audit
from storage.db import Database
from storage.models import Sale


class VaultError(Exception):
    """The stored tokens cannot be decrypted (wrong or rotated-away key)."""


class TokenVault:
    def __init__(self, keys: str) -> None:
        self._keys = [Fernet(key) for key in parse_fernet_keys(keys)]
        self._fernet = MultiFernet(self._keys)

    @property
    def key_count(self) -> int:
        return len(self._keys)

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

    def key_of(self, sealed: str) -> int | None:
        """Which configured key opens ``sealed``: 0 for the newest; None for none."""
        for index, key in enumerate(self._keys):
            try:
                key.decrypt(sealed.encode())
            except InvalidToken:
                continue
            return index
        return None

    def reseal(self, sealed: str) -> str:
        """The same tokens sealed under the newest key."""
        try:
            return self._fernet.rotate(sealed.encode()).decode()
        except InvalidToken as exc:
            raise VaultError("payment tokens cannot be decrypted with the configured keys") from exc


@dataclass(frozen=True)
class KeyUse:
    """The sealed values in the database, by the configured key that opens them."""

    by_key: tuple[int, ...]  # newest first, as FRONTDESK_PAYMENT_TOKEN_KEYS lists them
    unreadable: int  # opened by none of them

    @property
    def older(self) -> int:
        return sum(self.by_key[1:])

    @property
    def retirable(self) -> bool:
        """No sealed value needs a key but the newest: the others can be removed."""
        return self.older == 0 and self.unreadable == 0


@dataclass(frozen=True)
class RotateReport:
    resealed: int  # re-sealed under the newest key
    current: int  # already under the newest key
    ended: int  # wiped (or re-sealed by the app) while this ran: left as they are
    unreadable: int  # opened by none of the configured keys: left as they are


def key_use(db: Database, vault: TokenVault) -> KeyUse:
    counts = [0] * vault.key_count
    unreadable = 0
    with db.session() as session:
        sealed_values = session.scalars(
            select(Sale.sealed_tokens).where(Sale.sealed_tokens.is_not(None))
        ).all()
    for sealed in sealed_values:
        assert sealed is not None
        index = vault.key_of(sealed)
        if index is None:
            unreadable += 1
        else:
            counts[index] += 1
    return KeyUse(tuple(counts), unreadable)


def rotate(db: Database, vault: TokenVault, clock: Clock, *, actor: str = "cli") -> RotateReport:
    """Re-seal every sale's tokens that an older key sealed, under the newest key.

    One compare-and-set per sale on the sealed value itself: a sale that ends (its
    tokens wiped) or changes its tokens meanwhile keeps what it has now. The old
    ciphertexts are wipes too (``Database.note_wipe``): scrub after this.
    """
    resealed = current = ended = unreadable = 0
    with db.session() as session:
        rows = session.execute(
            select(Sale.id, Sale.sealed_tokens).where(Sale.sealed_tokens.is_not(None))
        ).all()
    for sale_id, sealed in rows:
        while True:
            if sealed is None:
                ended += 1
                break
            index = vault.key_of(sealed)
            if index is None:
                unreadable += 1
                break
            if index == 0:
                current += 1
                break
            fresh = vault.reseal(sealed)
            with db.session() as session:
                db.note_wipe(session)
                won = session.execute(
                    update(Sale)
                    .where(Sale.id == sale_id, Sale.sealed_tokens == sealed)
                    .values(sealed_tokens=fresh)
                ).rowcount  # type: ignore[attr-defined]
                if not won:
                    sealed = session.scalar(select(Sale.sealed_tokens).where(Sale.id == sale_id))
                    continue
            resealed += 1
            break
    report = RotateReport(resealed, current, ended, unreadable)
    with db.session() as session:
        audit.record(
            session,
            clock,
            actor=actor,
            action="payment_keys.rotate",
            subject_type="payment_token_keys",
            subject_id="sales",
            details={
                "resealed": resealed,
                "current": current,
                "ended": ended,
                "unreadable": unreadable,
                "keys": vault.key_count,
            },
        )
    return report
