"""Settings (environment, prefix ``FRONTDESK_``) and the locations file.

Secrets are named by environment variable in the locations file and read from
the environment: never from the repository or database. ``preflight`` checks the
whole configuration (the file, the time zones, the channel ids, every secret it
names, the Slack credentials) before anything touches the database, and names
each problem with where it is; then each location builds its vendor adapters,
reading its secrets.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import httpx
import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    StrictInt,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict, SettingsError

from vendors import LocationAdapters, VendorConfigurationError, VendorHttp
from vendors._transport import is_http_url
from vendors.clubready import ClubReadyAccount, ClubReadyReset, ContractSoldNewUser
from vendors.paytronix import (
    AuthStyle,
    B2BBodyMembers,
    Credentials,
    GuestManagement,
    PaytronixGuestPasswords,
    PaytronixReset,
    check_b2b_body_members,
)
from vendors.registrar import RegistrarReset

Vendor = Literal["clubready", "registrar", "paytronix"]


class ConfigurationError(Exception):
    """The configuration cannot work; the message says which setting to fix."""


#: A Slack channel id (public ``C…``, older private ``G…``), not a channel's name.
SLACK_CHANNEL_ID = re.compile(r"^[CG][A-Z0-9]{6,}$")


def _channel_id(value: str) -> str:
    if not SLACK_CHANNEL_ID.match(value):
        raise ValueError(
            f"{value!r} is not a Slack channel id (like C012AB3CD: in Slack, open the "
            "channel's details; the id is at the bottom)"
        )
    return value


ChannelId = Annotated[str, AfterValidator(_channel_id)]

#: A Slack user group id (``S…``) and a user id (``U…``, or ``W…`` on Enterprise Grid).
SLACK_USERGROUP_ID = re.compile(r"^S[A-Z0-9]+$")
SLACK_USER_ID = re.compile(r"^[UW][A-Z0-9]+$")
_CLOCK_TIME = re.compile(r"^([01]?[0-9]|2[0-3]):([0-5][0-9])$")


def _http_url(value: str) -> str:
    if not is_http_url(value) or any(character.isspace() for character in value):
        raise ValueError(f"{value!r} is not an http(s) URL (like https://host/path)")
    return value


#: A base URL frontdesk calls: http or https, a host, no spaces.
HttpUrl = Annotated[str, AfterValidator(_http_url)]
#: A duration: finite, positive, and at most ``le`` (an absurd one overflows a timedelta).
Seconds = Annotated[float, Field(gt=0, allow_inf_nan=False)]

#: A bootstrap admin: a Slack user id, optionally after its team's or org's id.
BOOTSTRAP_ADMIN = re.compile(r"^(?:[TE][A-Z0-9]+:)?[UW][A-Z0-9]+$")


class _Strict(BaseModel):
    """A typo in the file is an error, not a silently ignored key."""

    model_config = ConfigDict(extra="forbid")


class CatalogItem(_Strict):
    package_id: int
    installment_plan_id: int
    name: str
    amount: Decimal
    #: Paid in full at the sale (no instalments): a new member may then pay with an
    #: AcctToken alone; otherwise a ProfileToken must leave a method on file. A free
    #: package (amount 0) is paid in full: nothing is charged, now or later.
    paid_in_full: bool = False

    @field_validator("amount")
    @classmethod
    def _money(cls, value: Decimal) -> Decimal:
        exponent = value.as_tuple().exponent
        if not value.is_finite() or value < 0 or not isinstance(exponent, int) or exponent < -2:
            raise ValueError("an amount is zero or more, with at most two decimals (49.00)")
        return value

    @model_validator(mode="after")
    def _free_is_paid(self) -> CatalogItem:
        if self.amount == 0:
            self.paid_in_full = True
        return self


class LocationBase(_Strict):
    """What every location has. A vendor's subclass also says what its reset takes,
    so that forms and workflows never branch on the vendor, and builds its adapters
    (:meth:`adapters`): adding a vendor adds a subclass here, never a branch elsewhere.
    A new vendor's base URL belongs on its subclass (with a default), like
    Paytronix's ``host``."""

    #: The vendor's name as people read it.
    vendor_label: ClassVar[str]
    #: The identifier fields its password reset takes, in form order.
    identifier_fields: ClassVar[tuple[str, ...]]
    #: Exactly one identifier (rather than one or more).
    one_identifier: ClassVar[bool] = False
    #: Its reset takes a member filter (ClubReady's Filter).
    has_member_filter: ClassVar[bool] = False

    id: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")]
    name: str
    triage_channel: ChannelId
    timezone: str = "UTC"

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            raise ValueError(
                f"unknown time zone {value!r} (an IANA name such as America/New_York)"
            ) from None
        return value

    @property
    def sells(self) -> bool:
        """Contract sales can be made here."""
        return False

    def adapters(self, settings: Settings, http: VendorHttp) -> LocationAdapters:
        """This location's adapters, its secrets read now (ConfigurationError names a
        missing variable)."""
        try:
            return self._adapters(settings, http)
        except (ConfigurationError, VendorConfigurationError) as exc:
            raise ConfigurationError(f"location {self.id!r}: {exc}") from None

    def _adapters(self, settings: Settings, http: VendorHttp) -> LocationAdapters:
        raise NotImplementedError

    def secret_envs(self) -> dict[str, str]:
        """The environment variables holding this location's secrets, by the field
        that names them: each must be set and non-empty when the app starts."""
        return {}

    def channels(self) -> dict[str, str]:
        """The channels the bot posts in for this location, by what they are for."""
        return {"triage": self.triage_channel}


class EscalationGroup(_Strict):
    """Who a pending sale escalates to: a Slack user group (mentioned in the approval
    message's thread) or people (each sent a direct message, and named there). In the
    locations file: ``escalation_group: S012AB3CD`` or ``escalation_group: [U012AB3CD,
    U045EF6GH]``."""

    usergroup: str | None = None
    users: tuple[str, ...] = ()

    @model_validator(mode="before")
    @classmethod
    def _from_file(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = value.strip()
            return {"users": (value,)} if SLACK_USER_ID.match(value) else {"usergroup": value}
        if isinstance(value, list | tuple):
            return {"users": tuple(value)}
        return value

    @model_validator(mode="after")
    def _ids(self) -> EscalationGroup:
        if self.usergroup is not None and not SLACK_USERGROUP_ID.match(self.usergroup):
            raise ValueError(
                f"{self.usergroup!r} is neither a Slack user group id (like S012AB3CD) nor a "
                "user id (like U012AB3CD); for several people give a list of user ids"
            )
        wrong = [user for user in self.users if not SLACK_USER_ID.match(str(user))]
        if wrong:
            raise ValueError(
                f"{', '.join(map(repr, wrong))}: not Slack user ids (like U012AB3CD: in Slack, "
                "open the person's profile, ⋮, Copy member ID)"
            )
        if self.usergroup is not None and self.users:
            raise ValueError("give a user group or user ids, not both")
        if self.usergroup is None and not self.users:
            raise ValueError("name a user group or at least one user")
        return self


class QuietHours(_Strict):
    """A daily window, in the location's time zone, when frontdesk reminds nobody:
    reminders and escalations due inside it wait for its end. ``start`` and ``end`` are
    ``"HH:MM"`` (quoted: YAML reads 21:00 unquoted as a number); the window may cross
    midnight (``start: "21:00"``, ``end: "07:00"``)."""

    start: str
    end: str

    @field_validator("start", "end", mode="before")
    @classmethod
    def _clock_time(cls, value: Any) -> str:
        if not isinstance(value, str) or not _CLOCK_TIME.match(value.strip()):
            raise ValueError(
                'a time of day in quotes, like "21:00" (unquoted, YAML reads 21:00 as a number)'
            )
        hours, minutes = value.strip().split(":")
        return f"{int(hours):02d}:{minutes}"

    @model_validator(mode="after")
    def _a_window(self) -> QuietHours:
        if self.start == self.end:
            raise ValueError("quiet hours must start and end at different times")
        return self

    @staticmethod
    def _minutes(value: str) -> int:
        hours, minutes = value.split(":")
        return int(hours) * 60 + int(minutes)

    @property
    def start_minute(self) -> int:
        """Minutes after midnight, local time."""
        return self._minutes(self.start)

    @property
    def end_minute(self) -> int:
        return self._minutes(self.end)


class ClubReadyLocation(LocationBase):
    vendor_label: ClassVar[str] = "ClubReady"
    identifier_fields: ClassVar[tuple[str, ...]] = ("email", "username")
    has_member_filter: ClassVar[bool] = True

    vendor: Literal["clubready"]
    store_id: int
    chain_id: int | None = None
    api_key_env: str
    approvals_channel: ChannelId | None = None
    catalog: list[CatalogItem] = []
    #: A manager may sell without approval up to this amount; above it a second
    #: manager approves. None: no limit.
    manager_sale_limit: Decimal | None = None
    #: Who a sale nobody decided escalates to (FRONTDESK_SALE_ESCALATION_MINUTES after
    #: it was asked); None: it is only reminded.
    escalation_group: EscalationGroup | None = None
    #: When nobody is reminded here (local time); None: at any hour.
    quiet_hours: QuietHours | None = None

    @model_validator(mode="after")
    def _approvals_where_selling(self) -> ClubReadyLocation:
        if self.catalog and not self.approvals_channel:
            raise ValueError(
                f"location {self.id!r} sells (it has a catalog) but has no approvals_channel"
            )
        return self

    @property
    def sells(self) -> bool:
        return bool(self.catalog)

    def _adapters(self, settings: Settings, http: VendorHttp) -> LocationAdapters:
        account = ClubReadyAccount(
            base_url=settings.clubready_url,
            api_key=secret_from_env(self.api_key_env),
            store_id=self.store_id,
            chain_id=self.chain_id,
        )
        return LocationAdapters(
            resetter=ClubReadyReset(account, http),
            seller=ContractSoldNewUser(account, http) if self.sells else None,
        )

    def secret_envs(self) -> dict[str, str]:
        return {"api_key_env": self.api_key_env}

    def channels(self) -> dict[str, str]:
        found = super().channels()
        if self.approvals_channel:
            found["approvals"] = self.approvals_channel
        return found

    def package(self, package_id: int, installment_plan_id: int) -> CatalogItem | None:
        return next(
            (
                item
                for item in self.catalog
                if (item.package_id, item.installment_plan_id) == (package_id, installment_plan_id)
            ),
            None,
        )


class RegistrarLocation(LocationBase):
    vendor_label: ClassVar[str] = "Registrar"
    identifier_fields: ClassVar[tuple[str, ...]] = ("email",)

    vendor: Literal["registrar"]
    customer_brand_name: str | None = None

    def _adapters(self, settings: Settings, http: VendorHttp) -> LocationAdapters:
        return LocationAdapters(
            resetter=RegistrarReset(
                base_url=settings.registrar_url,
                customer_brand_name=self.customer_brand_name,
                http=http,
            )
        )


class B2BBodyMemberNames(BaseModel):
    """Body member names for the b2b credentials, only where the merchant's Paytronix
    integration guide names them (by default they travel in HTTP Basic only)."""

    username: str
    password: str

    @model_validator(mode="after")
    def _usable(self) -> B2BBodyMemberNames:
        try:
            check_b2b_body_members(self.username, self.password)
        except VendorConfigurationError as exc:
            raise ValueError(str(exc)) from None
        return self


class PaytronixLocation(LocationBase):
    vendor_label: ClassVar[str] = "Paytronix"
    identifier_fields: ClassVar[tuple[str, ...]] = ("email", "username", "account_id", "card")
    one_identifier: ClassVar[bool] = True

    vendor: Literal["paytronix"]
    merchant_id: Annotated[StrictInt, Field(gt=0)]
    host: HttpUrl | None = None  # overrides FRONTDESK_PAYTRONIX_URL for this location
    release: str
    #: The integration's identifier and secret: HTTP Basic on every call.
    client_id_env: str
    client_secret_env: str
    #: The style of generateAndSendGuestResetPasswordCode; a third party's account of
    #: record always uses b2b.
    auth_style: Literal["anonymous", "b2b"] = "anonymous"
    #: The pair Paytronix client services assigned for b2b, where it differs from the
    #: integration's: sent as HTTP Basic on b2b calls (never in the body unless
    #: ``b2b_body_members`` says so). Unset: b2b calls use the integration's pair.
    b2b_username_env: str | None = None
    b2b_password_env: str | None = None
    #: Only if the merchant's integration guide names body members for the b2b
    #: credentials: their names. Then the b2b pair goes in those members and HTTP
    #: Basic keeps the integration's pair.
    b2b_body_members: B2BBodyMemberNames | None = None
    account_of_record: Literal["paytronix", "third_party"] = "paytronix"
    #: The merchant's name as its guests know it, on the guest reset page (default: name).
    display_name: str = ""

    @model_validator(mode="after")
    def _display_name(self) -> PaytronixLocation:
        if not self.display_name.strip():
            self.display_name = self.name
        return self

    @property
    def serves_guest_page(self) -> bool:
        """frontdesk issues the reset codes here, so its guest reset page answers them."""
        return self.account_of_record == "third_party"

    @field_validator("release")
    @classmethod
    def _pinned(cls, value: str) -> str:
        if value.lower() == "latest":
            raise ValueError("the Paytronix release must be pinned, not 'latest'")
        return value

    @model_validator(mode="after")
    def _b2b_consistent(self) -> PaytronixLocation:
        if bool(self.b2b_username_env) != bool(self.b2b_password_env):
            raise ValueError(
                f"location {self.id!r}: set both b2b_username_env and b2b_password_env, or neither"
            )
        if self.b2b_body_members is not None and not self.b2b_username_env:
            raise ValueError(
                f"location {self.id!r}: b2b_body_members needs b2b_username_env and "
                "b2b_password_env (the credentials that go in those members)"
            )
        if self.account_of_record == "third_party" and self.auth_style != "b2b":
            raise ValueError(
                f"location {self.id!r}: where a third party holds the account of record "
                "Paytronix takes only b2b calls: set auth_style: b2b"
            )
        return self

    def _adapters(self, settings: Settings, http: VendorHttp) -> LocationAdapters:
        b2b = (
            Credentials(
                secret_from_env(self.b2b_username_env), secret_from_env(self.b2b_password_env)
            )
            if self.b2b_username_env
            else None
        )
        members = self.b2b_body_members
        guests = GuestManagement(
            base_url=self.host or settings.paytronix_url,
            release=self.release,
            merchant_id=self.merchant_id,
            integration=Credentials(
                secret_from_env(self.client_id_env), secret_from_env(self.client_secret_env)
            ),
            b2b=b2b,
            b2b_body_members=B2BBodyMembers(members.username, members.password)
            if members is not None
            else None,
            http=http,
        )
        third_party = self.account_of_record == "third_party"
        return LocationAdapters(
            resetter=PaytronixReset(
                guests, style=AuthStyle(self.auth_style), third_party=third_party
            ),
            guest_passwords=PaytronixGuestPasswords(guests) if third_party else None,
        )

    def secret_envs(self) -> dict[str, str]:
        names = {"client_id_env": self.client_id_env, "client_secret_env": self.client_secret_env}
        if self.b2b_username_env:
            names["b2b_username_env"] = self.b2b_username_env
        if self.b2b_password_env:
            names["b2b_password_env"] = self.b2b_password_env
        return names


Location = Annotated[
    ClubReadyLocation | RegistrarLocation | PaytronixLocation, Field(discriminator="vendor")
]


class UsergroupRole(_Strict):
    """Members of a Slack user group hold ``role`` at ``locations`` (empty: all)."""

    usergroup: Annotated[str, Field(pattern=r"^S[A-Z0-9]+$")]
    role: Literal["front_desk", "manager", "support", "admin"]
    locations: list[str] = []


class LocationsFile(_Strict):
    locations: list[Location]
    usergroup_roles: list[UsergroupRole] = []


def secret_from_env(name: str | None) -> str:
    if not name:
        raise ConfigurationError("a secret's environment variable name is missing")
    value = os.environ.get(name)
    if not value:
        raise ConfigurationError(f"environment variable {name} is not set")
    return value


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FRONTDESK_", env_file=None, extra="ignore")

    slack_bot_token: SecretStr = SecretStr("")
    slack_signing_secret: SecretStr = SecretStr("")
    slack_app_token: SecretStr = SecretStr("")
    slack_api_url: HttpUrl = "https://slack.com/api/"
    #: How many times a Web API call answered 429 is retried after its Retry-After.
    slack_rate_limit_retries: int = Field(3, ge=0, le=10)
    #: Bolt's ``process_before_response``: run each listener to its end before
    #: answering Slack, on the answering thread. Off (Bolt's default: a click is
    #: acknowledged before its work) by measurement: README, BENCHMARKS.md.
    slack_process_before_response: bool = False

    #: Slack notices (the outbox): threads delivering them per process, how long a
    #: message notice is retried before it is abandoned, the Home publish budget
    #: shared by every process (Slack allows views.publish about 100+ a minute).
    notifier_threads: int = Field(4, ge=0, le=64)
    notice_expiry_hours: Seconds = Field(24.0, le=24 * 30)
    home_publishes_per_minute: Seconds = Field(60.0, le=10_000)
    home_publish_burst: Seconds = Field(10.0, ge=1, le=10_000)

    database_url: str = "sqlite:///frontdesk.sqlite3"

    @field_validator("database_url")
    @classmethod
    def _supported_database(cls, value: str) -> str:
        if not value.startswith(("sqlite:", "postgresql:", "postgresql+psycopg:", "postgres:")):
            raise ValueError(
                "frontdesk runs on SQLite (sqlite:///…) or PostgreSQL (postgresql://…)"
            )
        return value

    locations_file: Path = Path("locations.yml")

    clubready_url: HttpUrl = "https://www.clubready.com/api/current"
    registrar_url: HttpUrl = "https://regapi.pumpalarm.com"
    paytronix_url: HttpUrl = "https://api.paytronix.com"
    vendor_connect_timeout: Seconds = Field(3.0, le=300)
    vendor_read_timeout: Seconds = Field(15.0, le=600)
    #: The most one vendor call may take, all attempts, retry waits, connects, reads
    #: and writes included. Under half the worker lease, so a call always ends (its
    #: outcome recorded) before its claim could be taken for abandoned.
    vendor_deadline_seconds: Seconds = Field(30.0, le=3600)

    reset_limit_per_hour: int = Field(3, ge=1)
    #: Most resets one person may send, and start, per hour (one account cannot
    #: flood a vendor or the queue).
    resets_per_person_hour: int = Field(30, ge=1)
    reset_drafts_per_person_hour: int = Field(60, ge=1)
    #: Most sales one person may start per hour.
    sale_drafts_per_person_hour: int = Field(20, ge=1)
    #: How long a sale waits for approval before it expires.
    sale_approval_hours: Seconds = Field(24.0, le=24 * 60)
    #: A pending sale nobody decided reminds its location's managers after this long
    #: (since this version of it was sent for approval), and escalates to the location's
    #: escalation group after the second (counted from the same moment).
    sale_reminder_minutes: Seconds = Field(30.0, le=24 * 60 * 30)
    sale_escalation_minutes: Seconds = Field(120.0, le=24 * 60 * 30)
    #: Fernet key(s), comma-separated, newest first, that encrypt payment tokens
    #: while a sale awaits approval or execution. ``frontdesk keygen`` makes one.
    payment_token_keys: SecretStr = SecretStr("")
    #: Vendor calls in parallel per process (0: this process leaves them to others).
    worker_threads: int = Field(4, ge=0, le=64)
    #: Only a safety net: workers are woken when work is queued (in any process).
    worker_poll_seconds: Seconds = Field(1.0, le=3600)
    worker_lease_seconds: Seconds = Field(120.0, ge=2, le=86400)
    #: How often each worker recovers abandoned work and runs its periodic tasks.
    worker_housekeeping_seconds: Seconds = Field(5.0, le=3600)
    #: Names this process in claimed work (default: random); a host name helps operators.
    worker_id: str | None = None
    #: Slack user ids (``T123:U456`` or ``U456``) who are admins from the start:
    #: comma-separated, or a JSON list.
    bootstrap_admins: Annotated[list[str], NoDecode] = []

    @field_validator("bootstrap_admins", mode="before")
    @classmethod
    def _admins(cls, value: Any) -> Any:
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                try:
                    value = json.loads(text)
                except ValueError:
                    raise ValueError("not a JSON list of Slack user ids") from None
            else:
                value = [item.strip() for item in text.split(",") if item.strip()]
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise ValueError("a list of Slack user ids (U012ABC or T012TEAM:U012ABC)")
        wrong = [item for item in value if not BOOTSTRAP_ADMIN.match(item)]
        if wrong:
            raise ValueError(
                f"{', '.join(repr(w) for w in wrong)}: not a Slack user id (U012ABC, or "
                "T012TEAM:U012ABC), comma-separated"
            )
        return value

    http_host: str = "127.0.0.1"
    http_port: int = Field(3000, ge=0, le=65535)
    #: WSGI threads answering Slack per process.
    http_threads: int = Field(8, ge=1)
    #: Connections the listener holds at once (more wait in the kernel's backlog).
    http_connection_limit: int = Field(1000, ge=10, le=100_000)
    #: Seconds a connection may stay idle between requests before it is closed (keep a
    #: load balancer's idle timeout for its connections to frontdesk below this).
    http_channel_timeout: int = Field(15, ge=1, le=3600)
    #: Seconds a request's headers and body may take to arrive, in all, from its first
    #: byte: a client trickling them in is cut off then.
    http_request_seconds: int = Field(10, ge=1, le=600)
    #: ``/metrics`` has its own listener, never Slack's: loopback by default.
    metrics_host: str = "127.0.0.1"
    #: 0 turns the metrics listener off.
    metrics_port: int = Field(9464, ge=0, le=65535)
    #: When set, a scrape must send ``Authorization: Bearer <token>``.
    metrics_token: SecretStr = SecretStr("")

    #: The guest reset page (Paytronix, where a third party holds the account of record):
    #: HMAC keys, comma-separated, newest first. Only keyed hashes of the reset codes
    #: frontdesk issues are stored, and the page's forms are signed with the newest key.
    #: Required when such a location is configured; 32 characters or more each.
    guest_code_keys: SecretStr = SecretStr("")
    #: How long a guest's reset code works.
    guest_code_hours: Seconds = Field(24.0, le=24 * 30)
    #: Where ``frontdesk serve`` answers the link in the guest's email, and the query
    #: parameter Paytronix adds the code as.
    guest_page_path: str = "/guest/reset"
    guest_page_code_parameter: str = "resetCode"
    #: Tries that reach Paytronix per code; then the link is locked (support resends).
    guest_page_tries_per_code: int = Field(5, ge=1)
    #: Submissions and lookups of unusable codes per client address per hour.
    guest_page_attempts_per_address: int = Field(20, ge=1)
    #: Guest submissions calling Paytronix at once per process; the rest are told to try
    #: again, so guests never hold the threads that acknowledge Slack.
    guest_page_concurrency: int = Field(2, ge=1)
    #: How long the answer to a guest's submission waits for Paytronix; then the page
    #: says the password is still being saved and refreshes itself until it knows.
    guest_page_wait_seconds: Seconds = Field(5.0, le=60)
    #: The load balancer in front (its address, or * for any peer): its X-Forwarded-For
    #: (last hop) and X-Forwarded-Proto then give the client's address and scheme (the
    #: guest page's per-address limit and HSTS). Unset: those headers are dropped.
    #: waitress compares it with the peer's address exactly: one IP address, or *.
    trusted_proxy: str | None = None

    @field_validator("trusted_proxy")
    @classmethod
    def _one_proxy(cls, value: str | None) -> str | None:
        text = (value or "").strip()
        if not text:
            return None
        if text == "*":
            return text
        try:
            return str(ipaddress.ip_address(text))  # as the peer's address is written
        except ValueError:
            raise ValueError(
                f"{text!r} is not one IP address: waitress believes forwarded headers only "
                "from a peer whose address is exactly this one, so give the load "
                "balancer's address (IPv4 or IPv6; no network, no host name, no list), "
                "or * for any peer (only where nothing but the load balancer can reach "
                "this port)"
            ) from None

    #: Member data older than this is purged (the audit trail stays, without it).
    retention_days: int = Field(365, ge=1)
    #: How often the members of mapped Slack user groups are read again.
    usergroup_refresh_minutes: Seconds = Field(15.0, le=24 * 60)

    @model_validator(mode="after")
    def _deadline_within_lease(self) -> Settings:
        if self.vendor_deadline_seconds >= self.worker_lease_seconds / 2:
            raise ValueError(
                f"FRONTDESK_VENDOR_DEADLINE_SECONDS ({self.vendor_deadline_seconds:g}) must be "
                "less than half of FRONTDESK_WORKER_LEASE_SECONDS "
                f"({self.worker_lease_seconds:g}), so a vendor call ends well before its "
                "claim expires"
            )
        return self

    @model_validator(mode="after")
    def _reminders_in_order(self) -> Settings:
        if self.sale_reminder_minutes >= self.sale_escalation_minutes:
            raise ValueError(
                f"FRONTDESK_SALE_REMINDER_MINUTES ({self.sale_reminder_minutes:g}) must be less "
                f"than FRONTDESK_SALE_ESCALATION_MINUTES ({self.sale_escalation_minutes:g}): "
                "managers are reminded before the sale escalates"
            )
        if self.sale_escalation_minutes >= self.sale_approval_hours * 60:
            raise ValueError(
                f"FRONTDESK_SALE_ESCALATION_MINUTES ({self.sale_escalation_minutes:g}) must be "
                f"less than FRONTDESK_SALE_APPROVAL_HOURS ({self.sale_approval_hours:g}) in "
                "minutes: a sale expires before it could escalate"
            )
        return self

    def vendor_timeout(self) -> httpx.Timeout:
        """Each connect, read, write and pool wait of a vendor call."""
        return httpx.Timeout(self.vendor_read_timeout, connect=self.vendor_connect_timeout)

    @field_validator("guest_page_code_parameter")
    @classmethod
    def _code_parameter(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9_.~-]{1,64}", value):
            raise ValueError(
                f"{value!r} is not a query parameter name (letters, digits, _ . ~ -): every "
                "link would look like one without a code"
            )
        return value

    @field_validator("guest_page_path")
    @classmethod
    def _page_path(cls, value: str) -> str:
        own = ("/slack/events", "/healthz", "/metrics")
        if not re.fullmatch(r"(/[A-Za-z0-9._~-]+)+/?", value) or value.rstrip("/") in own:
            raise ValueError(
                "the guest page path starts with / (letters, digits, . _ ~ - between slashes) "
                "and is not one of the app's own"
            )
        return value

    def load_locations(self) -> dict[str, Location]:
        return load_locations(self.locations_file)

    def load_usergroup_roles(self) -> list[UsergroupRole]:
        return load_usergroup_roles(self.locations_file)


def _parse(path: Path) -> LocationsFile:
    if not path.exists():
        raise ConfigurationError(f"{path}: the locations file does not exist")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "it cannot be read"
        raise ConfigurationError(f"{path}: invalid YAML{where}: {problem}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigurationError(f"{path}: cannot be read ({type(exc).__name__})") from None
    try:
        return LocationsFile.model_validate(data or {})
    except ValidationError as exc:
        raise ConfigurationError(
            "\n".join(f"{path}: {line}" for line in _schema_problems(exc, data))
        ) from None


def _schema_problems(error: ValidationError, data: Any) -> list[str]:
    """pydantic's errors as people read them: which location, which field, what is wrong."""
    lines = []
    for problem in error.errors(include_url=False):
        loc = list(problem["loc"])
        message = str(problem["msg"]).removeprefix("Value error, ")
        where: list[str] = []
        if len(loc) >= 2 and loc[0] in ("locations", "usergroup_roles") and isinstance(loc[1], int):
            section, index = loc[0], loc[1]
            loc = loc[2:]
            if section == "locations":
                raw = _item(data, section, index)
                ident = raw.get("id") if isinstance(raw, dict) else None
                where.append(f"location {ident!r}" if ident else f"location #{index + 1}")
                # A discriminated union puts the vendor's tag first: not a field.
                vendor = raw.get("vendor") if isinstance(raw, dict) else None
                if loc and loc[0] == vendor:
                    loc = loc[1:]
            else:
                where.append(f"usergroup_roles #{index + 1}")
        if problem["type"] in ("union_tag_not_found", "union_tag_invalid"):
            loc = [*loc, "vendor"]
            message = "should be one of clubready, registrar, paytronix"
        elif problem["type"] == "model_type" and not loc:
            message = "the file should be a mapping with a 'locations' list"
        if loc:
            field = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc)
            where.append(f"field {field.lstrip('.')!r}")
        lines.append(", ".join(where) + f": {message}" if where else message)
    return lines


def _item(data: Any, section: str, index: int) -> Any:
    items = data.get(section) if isinstance(data, dict) else None
    return items[index] if isinstance(items, list) and index < len(items) else None


def load_usergroup_roles(path: Path) -> list[UsergroupRole]:
    parsed = _parse(path)
    known = {location.id for location in parsed.locations}
    for index, mapping in enumerate(parsed.usergroup_roles):
        unknown = set(mapping.locations) - known
        if unknown:
            raise ConfigurationError(
                f"{path}: usergroup_roles #{index + 1} ({mapping.usergroup}), field "
                f"'locations': unknown locations {sorted(unknown)}"
            )
    return parsed.usergroup_roles


def load_locations(path: Path) -> dict[str, Location]:
    parsed = _parse(path)
    result: dict[str, Location] = {}
    for location in parsed.locations:
        if location.id in result:
            raise ConfigurationError(f"{path}: location {location.id!r} appears twice")
        result[location.id] = location
    return result


def load_settings() -> Settings:
    """Settings from the environment; a malformed value names its variable."""
    try:
        return Settings()
    except SettingsError as exc:  # a value pydantic-settings could not even decode
        found = re.search(r'field "(\w+)"', str(exc))
        name = "FRONTDESK_" + found.group(1).upper() if found else "a FRONTDESK_ setting"
        raise ConfigurationError(f"environment variable {name}: cannot be read") from None
    except ValidationError as exc:
        lines = []
        for problem in exc.errors(include_url=False):
            message = str(problem["msg"]).removeprefix("Value error, ")
            if not problem["loc"]:  # a rule across settings names its variables itself
                lines.append(message)
                continue
            name = "FRONTDESK_" + "_".join(str(p) for p in problem["loc"]).upper()
            lines.append(f"environment variable {name}: {message}")
        raise ConfigurationError("\n".join(lines)) from None


def parse_fernet_keys(keys: str) -> list[bytes]:
    """FRONTDESK_PAYMENT_TOKEN_KEYS: comma-separated Fernet keys, newest first."""
    from cryptography.fernet import Fernet

    names = [k.strip().encode() for k in keys.split(",") if k.strip()]
    if not names:
        raise ConfigurationError(
            "environment variable FRONTDESK_PAYMENT_TOKEN_KEYS is not set: sales need a key "
            "to encrypt payment tokens (make one with `frontdesk keygen`)"
        )
    for position, key in enumerate(names, 1):
        try:
            Fernet(key)
        except ValueError:
            raise ConfigurationError(
                f"environment variable FRONTDESK_PAYMENT_TOKEN_KEYS: key #{position} is not a "
                "Fernet key (make one with `frontdesk keygen`)"
            ) from None
    return names


#: The shortest key accepted for the guest page's keyed hashes.
GUEST_KEY_MIN_LENGTH = 32


def parse_guest_code_keys(keys: str) -> list[bytes]:
    """FRONTDESK_GUEST_CODE_KEYS: comma-separated HMAC keys, newest first."""
    names = [k.strip().encode() for k in keys.split(",") if k.strip()]
    if not names:
        raise ConfigurationError(
            "environment variable FRONTDESK_GUEST_CODE_KEYS is not set: frontdesk issues "
            "Paytronix reset codes for a location whose account of record a third party holds, "
            "and keeps only keyed hashes of them (make a key with `frontdesk keygen`)"
        )
    if any(len(k) < GUEST_KEY_MIN_LENGTH for k in names):
        raise ConfigurationError(
            f"each FRONTDESK_GUEST_CODE_KEYS key must be {GUEST_KEY_MIN_LENGTH} characters or more"
        )
    return names


def preflight(settings: Settings) -> dict[str, Location]:
    """Check the whole configuration; raise ConfigurationError naming every problem
    and where it is (file, location, field, environment variable). Touches nothing
    outside the process: no database, no network."""
    path = settings.locations_file
    locations = load_locations(path)
    load_usergroup_roles(path)
    problems: list[str] = []
    if not settings.slack_bot_token.get_secret_value().strip():
        problems.append(
            "environment variable FRONTDESK_SLACK_BOT_TOKEN is empty, blank or not set "
            "(the bot token, xoxb-…, under OAuth & Permissions)"
        )
    app_token = settings.slack_app_token.get_secret_value()
    if app_token and not app_token.startswith("xapp-"):
        problems.append(
            "environment variable FRONTDESK_SLACK_APP_TOKEN is not an app-level token (xapp-…); "
            "leave it unset for HTTP mode"
        )
    if not app_token and not settings.slack_signing_secret.get_secret_value().strip():
        problems.append(
            "environment variable FRONTDESK_SLACK_SIGNING_SECRET is empty, blank or not set: "
            "HTTP mode verifies every request from Slack with it (Basic Information → "
            "Signing Secret); "
            "Socket Mode needs FRONTDESK_SLACK_APP_TOKEN instead"
        )
    if settings.database_url.startswith("sqlite:"):
        # SQLite is one process: no other process would ever do this process's share.
        for env, threads, work in (
            ("FRONTDESK_WORKER_THREADS", settings.worker_threads, "call the vendors"),
            ("FRONTDESK_NOTIFIER_THREADS", settings.notifier_threads, "deliver Slack notices"),
        ):
            if threads == 0:
                problems.append(
                    f"environment variable {env} is 0 on SQLite: frontdesk runs as one "
                    f"process on SQLite, so nothing would ever {work} (0 is only for a "
                    "process sharing a PostgreSQL database with others)"
                )
    for location in locations.values():
        for field, env in location.secret_envs().items():
            if not os.environ.get(env):
                state = "is empty" if env in os.environ else "is not set"
                problems.append(
                    f"{path}: location {location.id!r}, field {field!r}: "
                    f"environment variable {env} {state}"
                )
    selling = sorted(loc.id for loc in locations.values() if loc.sells)
    keys = settings.payment_token_keys.get_secret_value()
    if selling or keys:
        try:
            parse_fernet_keys(keys)
        except ConfigurationError as exc:
            why = f" (locations {', '.join(selling)} sell contracts)" if selling else ""
            problems.append(f"{exc}{why}")
    guest_pages = sorted(
        loc.id for loc in locations.values() if getattr(loc, "serves_guest_page", False)
    )
    if guest_pages:
        try:
            parse_guest_code_keys(settings.guest_code_keys.get_secret_value())
        except ConfigurationError as exc:
            problems.append(f"{exc} (locations {', '.join(guest_pages)})")
    if problems:
        raise ConfigurationError("\n".join(problems))
    return locations


def check_database(url: str) -> None:
    """The database can be reached, checked before migrations touch it: a SQLite file's
    folder exists; PostgreSQL accepts a connection (5 s at most). ConfigurationError
    names FRONTDESK_DATABASE_URL, shown without its password."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, SQLAlchemyError

    from storage.db import normalise_url

    name = "environment variable FRONTDESK_DATABASE_URL"
    try:
        parsed = make_url(normalise_url(url))
    except ArgumentError:
        raise ConfigurationError(f"{name}: not a database URL") from None
    shown = parsed.render_as_string(hide_password=True)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if database and database != ":memory:" and not database.startswith("file:"):
            folder = Path(database).expanduser().absolute().parent
            if not folder.is_dir():
                raise ConfigurationError(
                    f"{name}: the folder {folder} of the SQLite database {shown} does not exist"
                )
        return
    engine = create_engine(parsed, connect_args={"connect_timeout": 5})
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        detail = str(getattr(exc, "orig", None) or exc).strip().splitlines()
        raise ConfigurationError(
            f"{name}: cannot connect to {shown}: {detail[0] if detail else type(exc).__name__}"
        ) from None
    finally:
        engine.dispose()
