"""Settings (environment, prefix ``FRONTDESK_``) and the locations file.

Secrets are named by environment variable in the locations file and read from
the environment when a client is built: never from the repository or database.
"""

from __future__ import annotations

import os
from decimal import Decimal
from pathlib import Path
from typing import Annotated, ClassVar, Literal

import yaml
from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

Vendor = Literal["clubready", "registrar", "paytronix"]


class ConfigurationError(Exception):
    """The configuration cannot work; the message says which setting to fix."""


class CatalogItem(BaseModel):
    package_id: int
    installment_plan_id: int
    name: str
    amount: Decimal
    #: Paid in full at the sale (no instalments): a new member may then pay with an
    #: AcctToken alone; otherwise a ProfileToken must leave a method on file.
    paid_in_full: bool = False


class LocationBase(BaseModel):
    """What every location has. A vendor's subclass also says what its reset takes,
    so that forms and workflows never branch on the vendor."""

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


class PaytronixLocation(LocationBase):
    vendor_label: ClassVar[str] = "Paytronix"
    identifier_fields: ClassVar[tuple[str, ...]] = ("email", "username", "account_id", "card")
    one_identifier: ClassVar[bool] = True

    vendor: Literal["paytronix"]
    merchant_id: int
    host: str | None = None  # overrides FRONTDESK_PAYTRONIX_URL for this location
    release: str
    client_id_env: str
    client_secret_env: str
    auth_style: Literal["anonymous", "b2b"] = "anonymous"
    b2b_username_env: str | None = None
    b2b_password_env: str | None = None
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

    database_url: str = "sqlite:///frontdesk.sqlite3"
    locations_file: Path = Path("locations.yml")

    clubready_url: str = "https://www.clubready.com/api/current"
    registrar_url: str = "https://regapi.pumpalarm.com"
    paytronix_url: str = "https://api.paytronix.com"
    vendor_connect_timeout: float = 3.0
    vendor_read_timeout: float = 15.0

    reset_limit_per_hour: int = 3
    #: How long a sale waits for approval before it expires.
    sale_approval_hours: float = 24.0
    #: Fernet key(s), comma-separated, newest first, that encrypt payment tokens
    #: while a sale awaits approval or execution. ``frontdesk keygen`` makes one.
    payment_token_keys: SecretStr = SecretStr("")
    worker_threads: int = 4
    worker_poll_seconds: float = 1.0
    worker_lease_seconds: float = 120.0
    #: Names this process in claimed work (default: random); a host name helps operators.
    worker_id: str | None = None
    #: Slack user ids (``T123:U456`` or ``U456``) who are admins from the start.
    bootstrap_admins: list[str] = []

    http_host: str = "127.0.0.1"
    http_port: int = 3000
    #: WSGI threads answering Slack per process.
    http_threads: int = 8

    #: The guest reset page (Paytronix, where a third party holds the account of record):
    #: HMAC keys, comma-separated, newest first. Only keyed hashes of the reset codes
    #: frontdesk issues are stored, and the page's forms are signed with the newest key.
    #: Required when such a location is configured; 32 characters or more each.
    guest_code_keys: SecretStr = SecretStr("")
    #: How long a guest's reset code works.
    guest_code_hours: float = 24.0
    #: Where ``frontdesk serve`` answers the link in the guest's email, and the query
    #: parameter Paytronix adds the code as.
    guest_page_path: str = "/guest/reset"
    guest_page_code_parameter: str = "resetCode"
    #: Tries that reach Paytronix per code; then the link is locked (support resends).
    guest_page_tries_per_code: int = 5
    #: Submissions and lookups of unusable codes per client address per hour.
    guest_page_attempts_per_address: int = 20
    #: Guest submissions calling Paytronix at once per process; the rest are told to try
    #: again, so guests never hold the threads that acknowledge Slack.
    guest_page_concurrency: int = 2
    #: The load balancer in front (its address, or * for any peer): its X-Forwarded-For
    #: (last hop) and X-Forwarded-Proto then give the client's address and scheme (the
    #: guest page's per-address limit and HSTS). Unset: those headers are dropped.
    trusted_proxy: str | None = None

    #: Member data older than this is purged (the audit trail stays, without it).
    retention_days: int = 365
    #: How often the members of mapped Slack user groups are read again.
    usergroup_refresh_minutes: float = 15.0

    @field_validator("guest_page_path")
    @classmethod
    def _page_path(cls, value: str) -> str:
        if not value.startswith("/") or value in ("/slack/events", "/healthz", "/metrics"):
            raise ValueError("the guest page path starts with / and is not one of the app's own")
        return value

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
