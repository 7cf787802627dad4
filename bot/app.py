"""Builds the Bolt App and everything it stands on from settings."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field

from slack_bolt import App
from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
)

from bot.clock import Clock, SystemClock
from bot.config import Location, PaytronixLocation, Settings, preflight
from bot.notices.notifier import Notifier
from bot.notices.render import Context
from bot.notices.slack import SlackCalls, missing_scopes
from bot.observability import ContextExecutor, Metrics, quiet_bodies
from bot.slack import admin, channels, errors, home, resets, sale_drafts, sales, shortcuts, steps
from bot.slack.context import Services, actor_middleware
from bot.vendor_clients import VendorClients
from bot.worker import LifecycleQueue, Worker
from bot.workflows import retention
from bot.workflows.guest_codes import GuestCodes, GuestKeys
from bot.workflows.guest_resets import GuestResets
from bot.workflows.home import HomeService
from bot.workflows.outbox import Outbox
from bot.workflows.reminders import Reminders, escalation_usergroups
from bot.workflows.replays import SeenRequests
from bot.workflows.resets import ResetService
from bot.workflows.roles import RoleAdmin, Roles
from bot.workflows.sales import SaleService
from bot.workflows.signals import CHANNEL, Signals, Topic
from bot.workflows.steps import StepKind, StepService
from bot.workflows.triage import TriageService
from bot.workflows.vault import TokenVault
from storage.db import Database
from storage.scrub import Scrubber

log = logging.getLogger("frontdesk")


@dataclass
class Frontdesk:
    """The running application: Bolt app, services, worker and database."""

    app: App
    services: Services
    metrics: Metrics
    usergroup_sync: admin.UsergroupSync
    #: Vendor work (resets, sales) and Slack notices (the outbox), each on threads of
    #: its own, so a slow vendor never delays a notice.
    worker: Worker
    notifier: Worker
    signals: Signals
    db: Database
    clients: VendorClients
    clock: Clock
    seen_requests: SeenRequests
    #: Pending sales' reminders and escalations (the worker's housekeeping sweeps them).
    reminders: Reminders
    #: The guest reset page's workflow, where a Paytronix location needs it.
    guest_resets: GuestResets | None = None
    _stop: threading.Event = field(default_factory=threading.Event)
    _listening: threading.Event = field(default_factory=threading.Event)

    def start(self) -> None:
        """Start the vendor worker and the notifier (each unless configured with no
        threads: a process may only answer Slack and leave the rest to others)."""
        if self.services.settings.worker_threads > 0:
            self.start_worker()
        if self.services.settings.notifier_threads > 0:
            self.start_notifier()

    def start_worker(self) -> None:
        self._listen()
        self.worker.start()

    def start_notifier(self) -> None:
        self._listen()
        self.notifier.start()

    def _listen(self) -> None:
        """On PostgreSQL, once: the thread that hears other processes' wake-ups."""
        if self.db.is_postgres and not self._listening.is_set():
            self._listening.set()
            threading.Thread(
                target=self.db.listen,
                args=(CHANNEL, self.signals.wake, self._stop),
                name="frontdesk-listen",
                daemon=True,
            ).start()

    def check_channels(self) -> list[str]:
        """Ask Slack whether the bot can post in every configured channel, and whether
        its token holds every scope the notifier needs; each problem is logged and
        shown on admins' App Home."""
        problems = channels.unreachable(self.app.client, self.services.locations)
        problems += missing_scopes(self.app.client)
        self.services.home.setup_problems = problems
        return problems

    def close(self) -> None:
        self._stop.set()
        self.worker.stop()
        self.notifier.stop()
        if self.guest_resets is not None:
            self.guest_resets.close()
        self.clients.close()
        self.db.dispose()


def build(
    settings: Settings, *, clock: Clock | None = None, worker_id: str | None = None
) -> Frontdesk:
    clock = clock or SystemClock()
    locations = preflight(settings)
    db = Database(settings.database_url)
    signals = Signals()
    outbox = Outbox(
        db=db,
        clock=clock,
        signals=signals,
        message_hours=settings.notice_expiry_hours,
    )
    roles = Roles(
        clock=clock,
        bootstrap_admins=settings.bootstrap_admins,
        usergroup_roles=settings.load_usergroup_roles(),
        location_names={location.id: location.name for location in locations.values()},
    )
    clients = VendorClients(settings, locations)
    guest_codes = _guest_codes(settings, locations, db, clock)
    reset_service = ResetService(
        guest_codes=guest_codes,
        db=db,
        roles=roles,
        clients=clients,
        locations=locations,
        clock=clock,
        limit_per_hour=settings.reset_limit_per_hour,
        lease_seconds=settings.worker_lease_seconds,
        sends_per_person_hour=settings.resets_per_person_hour,
        drafts_per_person_hour=settings.reset_drafts_per_person_hour,
        outbox=outbox,
    )
    keys = settings.payment_token_keys.get_secret_value()
    sale_service = SaleService(
        db=db,
        roles=roles,
        clients=clients,
        locations=locations,
        clock=clock,
        vault=TokenVault(keys) if keys else None,
        approval_hours=settings.sale_approval_hours,
        lease_seconds=settings.worker_lease_seconds,
        drafts_per_person_hour=settings.sale_drafts_per_person_hour,
        outbox=outbox,
    )
    client = WebClient(
        token=settings.slack_bot_token.get_secret_value(),
        base_url=settings.slack_api_url,
        # slack_sdk's handlers: wait out a 429 for as long as its Retry-After says, and
        # retry a connection that failed before anything was sent.
        retry_handlers=[
            ConnectionErrorRetryHandler(max_retry_count=1),
            RateLimitErrorRetryHandler(max_retry_count=settings.slack_rate_limit_retries),
        ],
    )
    metrics = Metrics(db)
    quiet_bodies()
    app = App(
        client=client,
        listener_executor=ContextExecutor(max_workers=10, thread_name_prefix="frontdesk-listener"),
        signing_secret=settings.slack_signing_secret.get_secret_value(),
        # bot/http.py verifies every request before anything parses or logs it, and
        # Socket Mode needs none; Bolt's own check would log an unverified body.
        request_verification_enabled=False,
        token_verification_enabled=False,
        process_before_response=settings.slack_process_before_response,
        logger=logging.getLogger("frontdesk.bolt"),
    )
    step_service = StepService(
        db=db, clock=clock, resets=reset_service, sales=sale_service, locations=locations
    )
    # Workflow Builder steps end from the worker's side, once their outcome is recorded.
    step_ends = steps.StepCompleter(client=client, steps=step_service)
    worker = Worker(
        queues=[
            LifecycleQueue(
                name="resets",
                lifecycle=reset_service.lifecycle,
                call=reset_service.call_vendor,
                metrics=metrics,
                after=lambda row: step_ends.after(StepKind.RESET, str(row.id)),
            ),
            LifecycleQueue(
                name="sales",
                lifecycle=sale_service.lifecycle,
                call=sale_service.call_vendor,
                metrics=metrics,
                after=lambda row: step_ends.after(StepKind.SALE, str(row.id)),
            ),
        ],
        threads=max(settings.worker_threads, 1),
        poll_seconds=settings.worker_poll_seconds,
        worker_id=worker_id or settings.worker_id,
        housekeeping_seconds=settings.worker_housekeeping_seconds,
    )
    triage_service = TriageService(
        db=db, roles=roles, locations=locations, clock=clock, outbox=outbox
    )
    home_service = HomeService(
        db=db, roles=roles, locations=locations, clock=clock, triage=triage_service, outbox=outbox
    )
    services = Services(
        settings=settings,
        locations=locations,
        resets=reset_service,
        sales=sale_service,
        triage=triage_service,
        home=home_service,
        admin=RoleAdmin(db=db, roles=roles, locations=locations),
        outbox=outbox,
    )
    notifier = Worker(
        queues=[
            Notifier(
                outbox=outbox,
                calls=SlackCalls(client, clock=clock),
                context=Context(
                    resets=reset_service,
                    sales=sale_service,
                    home=home_service,
                    locations=locations,
                ),
                clock=clock,
                metrics=metrics,
                publishes_per_minute=settings.home_publishes_per_minute,
                publish_burst=settings.home_publish_burst,
            )
        ],
        threads=max(settings.notifier_threads, 1),
        poll_seconds=settings.worker_poll_seconds,
        worker_id=worker.worker_id,
        housekeeping_seconds=settings.worker_housekeeping_seconds,
        name="notifier",
    )
    signals.on(Topic.WORK, worker.wake)
    signals.on(Topic.NOTICES, notifier.wake)
    guest_resets = None
    if guest_codes is not None:
        guest_resets = GuestResets(
            db=db,
            codes=guest_codes,
            clients=clients,
            locations=locations,
            clock=clock,
            attempts_per_address=settings.guest_page_attempts_per_address,
            concurrency=settings.guest_page_concurrency,
            lease_seconds=settings.worker_lease_seconds,
        )
        guest_resets.on_failure = reset_service.tell_support
        guest_resets.on_resolved = reset_service.tell_support
        worker.every(60, "guest reset page", guest_resets.housekeeping)
    sync = admin.UsergroupSync(
        client=client,
        admin=services.admin,
        mappings=roles.usergroup_roles,
        escalation_groups=escalation_usergroups(locations),
    )
    worker.on_housekeeping("sale expiry", sale_service.expire_due)
    reminders = Reminders(
        db=db,
        clock=clock,
        roles=roles,
        locations=locations,
        outbox=outbox,
        remind_after_minutes=settings.sale_reminder_minutes,
        escalate_after_minutes=settings.sale_escalation_minutes,
    )
    worker.on_housekeeping("sale reminders", reminders.sweep)
    worker.on_housekeeping("workflow steps", step_ends.tell_due)
    if sync.needed:
        worker.every(settings.usergroup_refresh_minutes * 60, "user groups", sync.refresh)
    worker.every(
        24 * 3600,
        "purge",
        lambda: (
            retention.purge(db, clock, settings.retention_days, audit_window_days=7),
            outbox.purge(),
        ),
    )
    worker.every(5, "scrub wiped values", Scrubber(db).after_wipes)
    seen_requests = SeenRequests(db, clock)
    worker.every(60, "seen requests", seen_requests.prune)
    app.middleware(actor_middleware)
    errors.register(app)
    listeners = errors.GuardedApp(
        app, ContextExecutor(max_workers=4, thread_name_prefix="frontdesk-modal")
    )
    resets.register(listeners, services)
    sales.register(listeners, services)
    home.register(listeners, services)
    admin.register(listeners, services, sync)
    shortcuts.register(listeners, services)
    sale_drafts.register(listeners, services)
    steps.register(listeners, services, step_service, step_ends)
    return Frontdesk(
        app=app,
        services=services,
        metrics=metrics,
        usergroup_sync=sync,
        worker=worker,
        notifier=notifier,
        signals=signals,
        db=db,
        clients=clients,
        clock=clock,
        seen_requests=seen_requests,
        reminders=reminders,
        guest_resets=guest_resets,
    )


def _guest_codes(
    settings: Settings, locations: dict[str, Location], db: Database, clock: Clock
) -> GuestCodes | None:
    """The code store, where a Paytronix location's account of record is a third party
    (frontdesk issues the codes there); its keys are required then."""
    if not any(
        isinstance(loc, PaytronixLocation) and loc.serves_guest_page for loc in locations.values()
    ):
        return None
    return GuestCodes(
        db=db,
        clock=clock,
        keys=GuestKeys(settings.guest_code_keys.get_secret_value()),
        ttl_hours=settings.guest_code_hours,
        tries_per_code=settings.guest_page_tries_per_code,
    )
