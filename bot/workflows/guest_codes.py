"""The reset codes frontdesk issues to guests, kept as keyed hashes: the one home of them.

Where a third party holds a Paytronix merchant's account of record, frontdesk makes
the reset code, Paytronix emails the guest a link carrying it, and frontdesk's guest
page takes it back. Only an HMAC of the code is stored (with the newest key of
``FRONTDESK_GUEST_CODE_KEYS``; the older ones still find codes issued before a
rotation), with its location, the reset request that issued it, its expiry and its
state. The same keys sign the page's forms and hash client addresses, each under its
own label, so one purpose's digest never serves another.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from bot.clock import Clock
from bot.config import parse_guest_code_keys
from bot.workflows import audit
from storage.db import Database
from storage.models import GuestResetCode
from vendors.paytronix import new_reset_code

#: Each key's shortest length: 256 bits as text.


class CodeStatus(StrEnum):
    OPEN = "open"
    CHECKING = "checking"  # one submission is at Paytronix (leased)
    USED = "used"
    LOCKED = "locked"  # too many refused tries
    UNKNOWN = "unknown"  # Paytronix's answer never came: closed, support resends
    REJECTED = "rejected"  # Paytronix refused the code itself: closed, support resends


class CodeState(StrEnum):
    """What a code is worth when someone presents it."""

    USABLE = "usable"
    BUSY = "busy"  # another submission holds it right now
    UNKNOWN_CODE = "unknown_code"
    EXPIRED = "expired"
    USED = "used"
    LOCKED = "locked"
    CLOSED = "closed"  # after an uncertain outcome
    REJECTED = "rejected"  # Paytronix no longer accepts it


class GuestKeys:
    """The HMAC keys, newest first, and the digests made with them."""

    def __init__(self, keys: str) -> None:
        self._keys = parse_guest_code_keys(keys)

    def digest(self, purpose: str, value: str) -> str:
        """HMAC-SHA256 (hex) of ``value`` for one purpose, with the newest key."""
        return self._digest(self._keys[0], purpose, value)

    def digests(self, purpose: str, value: str) -> list[str]:
        """The digest under every key: what a lookup matches during a rotation."""
        return [self._digest(key, purpose, value) for key in self._keys]

    @staticmethod
    def _digest(key: bytes, purpose: str, value: str) -> str:
        message = purpose.encode() + b"\x00" + value.encode("utf-8", "surrogatepass")
        return hmac.new(key, message, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class FoundCode:
    """A presented code, as the page may act on it (never the code itself)."""

    state: CodeState
    id: str | None = None
    location_id: str | None = None
    reset_request_id: str | None = None
    tries: int = 0
    expires_at: datetime | None = None


class GuestCodes:
    def __init__(
        self,
        *,
        db: Database,
        clock: Clock,
        keys: GuestKeys,
        ttl_hours: float = 24.0,
        tries_per_code: int = 5,
    ) -> None:
        self.db = db
        self.clock = clock
        self.keys = keys
        self.ttl = timedelta(hours=ttl_hours)
        self.tries_per_code = tries_per_code

    def issue(self, location_id: str, reset_request_id: str) -> str:
        """A new code for a reset about to be sent: stored (as a keyed hash) before it
        leaves, so the guest's link always finds it. Returns the code to send."""
        code = new_reset_code()
        now = self.clock.now()
        with self.db.session() as session:
            row = GuestResetCode(
                id=str(uuid.uuid4()),
                code_hash=self.keys.digest("code", code),
                location_id=location_id,
                reset_request_id=reset_request_id,
                status=CodeStatus.OPEN,
                tries=0,
                created_at=now,
                expires_at=now + self.ttl,
                updated_at=now,
            )
            session.add(row)
            audit.record(
                session,
                self.clock,
                actor="frontdesk",
                action="guest_code.issue",
                subject_type="reset",
                subject_id=reset_request_id,
                location_id=location_id,
                details={"code_id": row.id, "expires_at": row.expires_at.isoformat()},
            )
        return code

    def row(self, session: Session, code: str) -> GuestResetCode | None:
        if not code or len(code) > 512:
            return None
        return session.scalars(
            select(GuestResetCode).where(
                GuestResetCode.code_hash.in_(self.keys.digests("code", code))
            )
        ).first()

    def state_of(self, row: GuestResetCode | None) -> CodeState:
        if row is None:
            return CodeState.UNKNOWN_CODE
        status = CodeStatus(row.status)
        if status is CodeStatus.USED:
            return CodeState.USED
        if status is CodeStatus.UNKNOWN:
            return CodeState.CLOSED
        if status is CodeStatus.REJECTED:
            return CodeState.REJECTED
        if status is CodeStatus.LOCKED or (
            status is CodeStatus.OPEN and row.tries >= self.tries_per_code  # limit lowered
        ):
            return CodeState.LOCKED
        if row.expires_at <= self.clock.now():
            return CodeState.EXPIRED
        if status is CodeStatus.CHECKING:
            return CodeState.BUSY
        return CodeState.USABLE

    def find(self, session: Session, code: str) -> FoundCode:
        row = self.row(session, code)
        return self.found(row)

    def found(self, row: GuestResetCode | None) -> FoundCode:
        state = self.state_of(row)
        if row is None:
            return FoundCode(state)
        return FoundCode(
            state,
            id=row.id,
            location_id=row.location_id,
            reset_request_id=row.reset_request_id,
            tries=row.tries,
            expires_at=row.expires_at,
        )

    # -- the code's state, by compare-and-set ---------------------------------------------
    def claim(self, session: Session, code_id: str, lease: timedelta) -> str | None:
        """open → checking with one more try, for one submission: its claim id, or None
        when the code is not open, expired, out of tries, or another submission won."""
        now = self.clock.now()
        claim_id = uuid.uuid4().hex
        won = session.execute(
            update(GuestResetCode)
            .where(
                GuestResetCode.id == code_id,
                GuestResetCode.status == CodeStatus.OPEN,
                GuestResetCode.expires_at > now,
                GuestResetCode.tries < self.tries_per_code,
            )
            .values(
                status=CodeStatus.CHECKING,
                tries=GuestResetCode.tries + 1,
                claim_id=claim_id,
                lease_until=now + lease,
                updated_at=now,
            )
        ).rowcount  # type: ignore[attr-defined]
        return claim_id if won else None

    def settle(
        self, session: Session, code_id: str, claim_id: str, status: CodeStatus, *, refund: bool
    ) -> bool:
        """checking → ``status`` for the submission holding the claim (``refund``: the try
        did not reach Paytronix and does not count). False when the claim was lost."""
        now = self.clock.now()
        values: dict[str, object] = {
            "status": status,
            "claim_id": None,
            "lease_until": None,
            "updated_at": now,
        }
        if refund:
            values["tries"] = GuestResetCode.tries - 1
        if status is CodeStatus.USED:
            values["used_at"] = now
        won = session.execute(
            update(GuestResetCode)
            .where(
                GuestResetCode.id == code_id,
                GuestResetCode.status == CodeStatus.CHECKING,
                GuestResetCode.claim_id == claim_id,
            )
            .values(**values)
        ).rowcount  # type: ignore[attr-defined]
        return bool(won)

    def abandon(self, session: Session, row: GuestResetCode) -> bool:
        """A submission's lease ran out mid-call (its process died): the call may have
        reached Paytronix, so the code is closed as unknown, never tried again."""
        now = self.clock.now()
        won = session.execute(
            update(GuestResetCode)
            .where(
                GuestResetCode.id == row.id,
                GuestResetCode.status == CodeStatus.CHECKING,
                GuestResetCode.lease_until < now,
            )
            .values(status=CodeStatus.UNKNOWN, claim_id=None, lease_until=None, updated_at=now)
        ).rowcount  # type: ignore[attr-defined]
        return bool(won)

    def stale_claims(self, session: Session) -> list[GuestResetCode]:
        return list(
            session.scalars(
                select(GuestResetCode).where(
                    GuestResetCode.status == CodeStatus.CHECKING,
                    GuestResetCode.lease_until < self.clock.now(),
                )
            )
        )
