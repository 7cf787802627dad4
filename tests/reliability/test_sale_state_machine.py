"""A Hypothesis state machine over sales: request, submit, sell now, approve (from
fresh and stale reviews), reject, withdraw, edit, expire, double clicks, the
worker, a process dying mid-call, and a restart.

Invariants, after every step:
- at most one call to ClubReady per sale;
- payment tokens exist exactly while a sale is a draft, pending, approved or
  being submitted;
- after a restart's recovery, no sale is left in ``submitting``.
"""

from __future__ import annotations

import functools
import itertools
import shutil
import tempfile
import textwrap
from collections import Counter
from datetime import UTC, date, datetime
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
)

from bot.clock import ManualClock
from bot.config import load_locations
from bot.devtools.stack import LOCATIONS_YAML, PAYMENT_TOKEN_KEY
from bot.workflows.errors import Conflict, InvalidInput
from bot.workflows.roles import (
    Actor,
    Role,
    Roles,
)
from bot.workflows.sales import (
    HOLDS_TOKENS,
    PaymentInput,
    SaleDetails,
    SaleService,
    SaleStart,
    SaleStatus,
)
from bot.workflows.vault import TokenVault
from storage.db import Database, upgrade
from storage.models import Sale
from vendors import NewMemberSale, Outcome, OutcomeKind

FRONT = Actor("T1", "UFRONT")
MANAGERS = [Actor("T1", "UM1"), Actor("T1", "UM2"), Actor("T1", "UM3")]
PACKAGES = {"2001:3001": "49.00", "2003:3003": "599.00"}


class CountingClubReady:
    """Stands in for the sale endpoint: counts calls per correlation id and answers as told."""

    name = "counting"
    vendor = "clubready"
    operation = "contract_sale"

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.answer = OutcomeKind.SUCCEEDED

    def check(self, sale: NewMemberSale) -> None:
        pass

    def sell(self, sale: NewMemberSale) -> Outcome:
        self.calls[sale.correlation_id] += 1
        return Outcome(
            kind=self.answer, vendor="clubready", operation="contract_sale", message="test"
        )


class Clients:
    """VendorClients' seam: ``seller(location_id)``."""

    def __init__(self, endpoint: CountingClubReady) -> None:
        self.endpoint = endpoint

    def seller(self, location_id: str) -> CountingClubReady:
        return self.endpoint


@functools.cache
def _migrated_template() -> Path:
    """One migrated SQLite file, copied for every example (migrating each is slow)."""
    path = Path(tempfile.mkdtemp(prefix="frontdesk-sm-template-")) / "template.sqlite3"
    upgrade(f"sqlite:///{path}")
    return path


class SaleMachine(RuleBasedStateMachine):
    sales = Bundle("sales")

    def __init__(self) -> None:
        super().__init__()
        self.tmp = Path(tempfile.mkdtemp(prefix="frontdesk-sm-"))
        shutil.copy(_migrated_template(), self.tmp / "sm.sqlite3")
        url = f"sqlite:///{self.tmp / 'sm.sqlite3'}"
        (self.tmp / "locations.yml").write_text(textwrap.dedent(LOCATIONS_YAML))
        locations = load_locations(self.tmp / "locations.yml")
        self.clock = ManualClock(datetime(2026, 11, 23, 15, tzinfo=UTC))
        self.db = Database(url)
        roles = Roles(clock=self.clock)
        with self.db.session() as session:
            roles.grant(session, by="t", target=FRONT, role=Role.FRONT_DESK, location_id=None)
            for manager in MANAGERS:
                roles.grant(session, by="t", target=manager, role=Role.MANAGER, location_id=None)
        self.vendor = CountingClubReady()
        self.service = SaleService(
            db=self.db,
            roles=roles,
            clients=Clients(self.vendor),  # type: ignore[arg-type]
            locations=locations,
            clock=self.clock,
            vault=TokenVault(PAYMENT_TOKEN_KEY),
            lease_seconds=60,
        )
        self.workers = (f"w{n}" for n in itertools.count())
        self.reviews: dict[str, str] = {}  # sale id → fingerprint an approver saw

    def teardown(self) -> None:
        self.db.dispose()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def _today(self) -> date:
        return self.service.today_at(self.service.locations["downtown"])

    def _sale(self, sale_id: str) -> Sale:
        found = self.service.get(sale_id)
        assert found is not None
        return found

    @initialize(target=sales)
    def an_approved_sale(self) -> str:
        """Start with a sale the worker can take, so short runs reach the vendor."""
        sale_id = self.request(MANAGERS[0], "2001:3001")
        sale = self._sale(sale_id)
        assert self.service.sell_now(MANAGERS[0], sale_id, sale.fingerprint).value == "queued"
        return sale_id

    # -- people ---------------------------------------------------------------------
    @rule(
        target=sales,
        requester=st.sampled_from([FRONT, MANAGERS[0]]),
        package=st.sampled_from(sorted(PACKAGES)),
    )
    def request(self, requester: Actor, package: str) -> str:
        draft = self.service.start(requester, SaleStart("downtown", package, self._today()))
        sale = self.service.add_details(
            requester,
            draft.id,
            SaleDetails(
                member={"first_name": "A", "last_name": "B", "email": f"{draft.id}@example.com"},
                payments=(PaymentInput(amount=PACKAGES[package], token="tok_profile_sm1"),),
            ),
        )
        return sale.id

    @rule(sale_id=sales, clicks=st.integers(1, 3))
    def submit(self, sale_id: str, clicks: int) -> None:
        sale = self._sale(sale_id)
        requester = Actor(sale.team_id, sale.user_id)
        for _ in range(clicks):
            try:
                self.service.submit(requester, sale_id, sale.fingerprint)
            except Conflict:
                pass

    @rule(sale_id=sales)
    def sell_now(self, sale_id: str) -> None:
        sale = self._sale(sale_id)
        try:
            self.service.sell_now(Actor(sale.team_id, sale.user_id), sale_id, sale.fingerprint)
        except Exception as exc:  # front desk may not; others raise typed refusals
            assert type(exc).__name__ in ("NotAuthorized", "Conflict"), exc

    @rule(sale_id=sales)
    def review(self, sale_id: str) -> None:
        self.reviews[sale_id] = self._sale(sale_id).fingerprint

    @rule(sale_id=sales, approver=st.sampled_from(MANAGERS), clicks=st.integers(1, 3))
    def approve(self, sale_id: str, approver: Actor, clicks: int) -> None:
        fingerprint = self.reviews.get(sale_id, self._sale(sale_id).fingerprint)
        for _ in range(clicks):
            try:
                self.service.approve(approver, sale_id, fingerprint)
            except Conflict:
                pass  # self-approval

    @rule(sale_id=sales, approver=st.sampled_from(MANAGERS))
    def reject(self, sale_id: str, approver: Actor) -> None:
        try:
            self.service.reject(approver, sale_id, "no")
        except Conflict:
            pass

    @rule(sale_id=sales)
    def withdraw(self, sale_id: str) -> None:
        sale = self._sale(sale_id)
        try:
            self.service.withdraw(Actor(sale.team_id, sale.user_id), sale_id)
        except Conflict:
            pass

    @rule(sale_id=sales, package=st.sampled_from(sorted(PACKAGES)))
    def edit(self, sale_id: str, package: str) -> None:
        sale = self._sale(sale_id)
        try:
            self.service.edit(
                Actor(sale.team_id, sale.user_id),
                sale_id,
                SaleStart("downtown", package, self._today(), "PROMO"),
            )
        except (Conflict, InvalidInput):
            pass

    @rule(hours=st.sampled_from([1, 25]))
    def time_passes(self, hours: int) -> None:
        self.clock.advance(hours=hours)
        self.service.expire_due()

    # -- the worker -----------------------------------------------------------------
    @rule(answer=st.sampled_from(list(OutcomeKind)))
    def worker_runs(self, answer: OutcomeKind) -> None:
        self.vendor.answer = answer
        worker = next(self.workers)
        for sale_id in self.service.claim_next(worker, limit=10):
            self.service.execute(sale_id, worker)

    @rule()
    def process_dies_mid_call(self) -> None:
        """Claimed, the request sent, and the process gone before recording anything."""
        worker = next(self.workers)
        for sale_id in self.service.claim_next(worker, limit=10):
            sale = self._sale(sale_id)
            self.vendor.calls[sale.id] += 1  # it reached ClubReady...
            # ...and no outcome was ever recorded.

    @rule()
    def restart(self) -> None:
        self.clock.advance(seconds=61)
        self.service.recover_abandoned()
        with self.db.session() as session:
            stuck = session.query(Sale).filter(Sale.status == SaleStatus.SUBMITTING).count()
        assert stuck == 0, "a sale left in submitting after recovery"

    # -- invariants -----------------------------------------------------------------
    @invariant()
    def at_most_one_vendor_call_per_sale(self) -> None:
        assert all(count <= 1 for count in self.vendor.calls.values()), self.vendor.calls

    @invariant()
    def tokens_only_while_needed(self) -> None:
        with self.db.session() as session:
            for sale in session.query(Sale):
                held = SaleStatus(sale.status) in HOLDS_TOKENS
                assert (sale.sealed_tokens is not None) == held, (sale.status, sale.id)


SaleMachine.TestCase.settings = settings(
    max_examples=120,
    stateful_step_count=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
test_sales_state_machine = SaleMachine.TestCase
