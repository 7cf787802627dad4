"""Settings (environment, prefix ``FRONTDESK_``) and the locations file.

Secrets are named by environment variable in the locations file and read from
the environment when the app is built (each location builds its vendor adapters
then, so a missing secret stops the start naming its variable): never from the
repository or database.
"""

from __future__ import annotations

import os
from decimal import Decimal
from pathlib import Path
from typing import Annotated, ClassVar, Literal

import httpx
import yaml
from pydantic import BaseModel, Field, SecretStr, StrictInt, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from vendors import LocationAdapters, VendorConfigurationError, VendorHttp
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


class CatalogItem(BaseModel):
    package_id: int
    installment_plan_id: int
    name: str
    amount: Decimal
    #: Paid in full at the sale (no instalments): a new member may then pay with an
    #: AcctToken alone; otherwise a ProfileToken must leave a method on file. A free
    #: package (amount 0) is paid in full: nothing is charged, now or later.
    paid_in_full: bool = False

    @model_validator(mode="after")
    def _free_is_paid(self) -> CatalogItem:
        if self.amount == 0:
            self.paid_in_full = True
        return self


class LocationBase(BaseModel):
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
    triage_channel: str
    timezone: str = "UTC"

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


class ClubReadyLocation(LocationBase):
    vendor_label: ClassVar[str] = "ClubReady"
    identifier_fields: ClassVar[tuple[str, ...]] = ("email", "username")
    has_member_filter: ClassVar[bool] = True

    vendor: Literal["clubready"]
    store_id: int
    chain_id: int | None = None
    api_key_env: str
    approvals_channel: str | None = None
    catalog: list[CatalogItem] = []
    #: A manager may sell without approval up to this amount; above it a second
    #: manager approves. None: no limit.
    manager_sale_limit: Decimal | None = None

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
    host: str | None = None  # overrides FRONTDESK_PAYTRONIX_URL for this location
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


Location = Annotated[
    ClubReadyLocation | RegistrarLocation | PaytronixLocation, Field(discriminator="vendor")
]


class UsergroupRole(BaseModel):
    """Members of a Slack user group hold ``role`` at ``locations`` (empty: all)."""

    usergroup: Annotated[str, Field(pattern=r"^S[A-Z0-9]+$")]
    role: Literal["front_desk", "manager", "support", "admin"]
    locations: list[str] = []


class LocationsFile(BaseModel):
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
    slack_api_url: str = "https://slack.com/api/"
    #: How many times a Web API call answered 429 is retried after its Retry-After.
    slack_rate_limit_retries: int = 3
    #: Bolt's ``process_before_response``: run each listener to its end before
    #: answering Slack, on the answering thread. Off (Bolt's default: a click is
    #: acknowledged before its work) by measurement: README, BENCHMARKS.md.
    slack_process_before_response: bool = False

    #: Slack notices (the outbox): threads delivering them per process, how long a
    #: message notice is retried before it is abandoned, the Home publish budget
    #: shared by every process (Slack allows views.publish about 100+ a minute).
    notifier_threads: int = Field(4, ge=0)
    notice_expiry_hours: float = 24.0
    home_publishes_per_minute: float = Field(60.0, gt=0)
    home_publish_burst: float = Field(10.0, ge=1)

    database_url: str = "sqlite:///frontdesk.sqlite3"
    locations_file: Path = Path("locations.yml")

    clubready_url: str = "https://www.clubready.com/api/current"
    registrar_url: str = "https://regapi.pumpalarm.com"
    paytronix_url: str = "https://api.paytronix.com"
    vendor_connect_timeout: float = 3.0
    vendor_read_timeout: float = 15.0
    #: The most one vendor call may take, all attempts, retry waits, connects, reads
    #: and writes included. Under half the worker lease, so a call always ends (its
    #: outcome recorded) before its claim could be taken for abandoned.
    vendor_deadline_seconds: float = Field(30.0, gt=0)

    reset_limit_per_hour: int = 3
    #: Most resets one person may send, and start, per hour (one account cannot
    #: flood a vendor or the queue).
    resets_per_person_hour: int = 30
    reset_drafts_per_person_hour: int = 60
    #: Most sales one person may start per hour.
    sale_drafts_per_person_hour: int = 20
    #: How long a sale waits for approval before it expires.
    sale_approval_hours: float = 24.0
    #: Fernet key(s), comma-separated, newest first, that encrypt payment tokens
    #: while a sale awaits approval or execution. ``frontdesk keygen`` makes one.
    payment_token_keys: SecretStr = SecretStr("")
    #: Vendor calls in parallel per process (0: this process leaves them to others).
    worker_threads: int = Field(4, ge=0)
    #: Only a safety net: workers are woken when work is queued (in any process).
    worker_poll_seconds: float = 1.0
    worker_lease_seconds: float = 120.0
    #: How often each worker recovers abandoned work and runs its periodic tasks.
    worker_housekeeping_seconds: float = 5.0
    #: Names this process in claimed work (default: random); a host name helps operators.
    worker_id: str | None = None
    #: Slack user ids (``T123:U456`` or ``U456``) who are admins from the start.
    bootstrap_admins: list[str] = []

    http_host: str = "127.0.0.1"
    http_port: int = 3000
    #: WSGI threads answering Slack per process.
    http_threads: int = 8

    #: Member data older than this is purged (the audit trail stays, without it).
    retention_days: int = 365
    #: How often the members of mapped Slack user groups are read again.
    usergroup_refresh_minutes: float = 15.0

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

    def vendor_timeout(self) -> httpx.Timeout:
        """Each connect, read, write and pool wait of a vendor call."""
        return httpx.Timeout(self.vendor_read_timeout, connect=self.vendor_connect_timeout)

    def load_locations(self) -> dict[str, Location]:
        return load_locations(self.locations_file)

    def load_usergroup_roles(self) -> list[UsergroupRole]:
        return load_usergroup_roles(self.locations_file)


def _parse(path: Path) -> LocationsFile:
    if not path.exists():
        raise ConfigurationError(f"locations file {path} does not exist")
    return LocationsFile.model_validate(yaml.safe_load(path.read_text()) or {})


def load_usergroup_roles(path: Path) -> list[UsergroupRole]:
    parsed = _parse(path)
    known = {location.id for location in parsed.locations}
    for mapping in parsed.usergroup_roles:
        unknown = set(mapping.locations) - known
        if unknown:
            raise ConfigurationError(
                f"user group {mapping.usergroup} names unknown locations {sorted(unknown)}"
            )
    return parsed.usergroup_roles


def load_locations(path: Path) -> dict[str, Location]:
    parsed = _parse(path)
    result: dict[str, Location] = {}
    for location in parsed.locations:
        if location.id in result:
            raise ConfigurationError(f"location id {location.id!r} appears twice in {path}")
        result[location.id] = location
    return result
