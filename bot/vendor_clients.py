"""Vendor clients per location, built lazily from settings and environment secrets."""

from __future__ import annotations

import threading
from typing import Any

import httpx

from bot.config import (
    ClubReadyLocation,
    Location,
    PaytronixLocation,
    RegistrarLocation,
    Settings,
    secret_from_env,
)
from vendors import GuestPasswordEndpoint, Outcome, build
from vendors.clubready import ClubReadyClient
from vendors.paytronix import AuthStyle, PaytronixClient, ResetGuestPassword
from vendors.registrar import RegistrarClient


class VendorClients:
    def __init__(self, settings: Settings, locations: dict[str, Location]) -> None:
        self._settings = settings
        self._locations = locations
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._timeout = httpx.Timeout(
            settings.vendor_read_timeout, connect=settings.vendor_connect_timeout
        )

    def for_location(self, location_id: str) -> Any:
        with self._lock:
            client = self._clients.get(location_id)
            if client is None:
                client = self._build(self._locations[location_id])
                self._clients[location_id] = client
            return client

    def guest_passwords(self, location_id: str) -> GuestPasswordEndpoint:
        """Where a guest sets a new password with the code from their email (Paytronix,
        a third party holding the account of record); LookupError elsewhere."""
        location = self._locations.get(location_id)
        if not isinstance(location, PaytronixLocation) or location.account_of_record != (
            "third_party"
        ):
            raise LookupError(f"location {location_id} takes no guest passwords")
        return _PaytronixGuestPasswords(self.for_location(location_id), location.merchant_id)

    def _build(self, location: Location) -> Any:
        settings = self._settings
        if isinstance(location, ClubReadyLocation):
            return ClubReadyClient(
                base_url=settings.clubready_url,
                api_key=secret_from_env(location.api_key_env),
                timeout=self._timeout,
            )
        if isinstance(location, RegistrarLocation):
            return RegistrarClient(base_url=settings.registrar_url, timeout=self._timeout)
        if isinstance(location, PaytronixLocation):
            b2b_user = (
                secret_from_env(location.b2b_username_env) if location.b2b_username_env else None
            )
            b2b_pass = (
                secret_from_env(location.b2b_password_env) if location.b2b_password_env else None
            )
            return PaytronixClient(
                base_url=location.host or settings.paytronix_url,
                release=location.release,
                client_id=secret_from_env(location.client_id_env),
                client_secret=secret_from_env(location.client_secret_env),
                auth_style=AuthStyle(location.auth_style),
                b2b_username=b2b_user,
                b2b_password=b2b_pass,
                timeout=self._timeout,
            )
        raise TypeError(f"unknown location type {type(location).__name__}")

    def close(self) -> None:
        with self._lock:
            for client in self._clients.values():
                client.close()
            self._clients.clear()


class _PaytronixGuestPasswords:
    """A thin GuestPasswordEndpoint over today's PaytronixClient (replaced by the adapter
    per location in vendors/_adapters.py when that lands)."""

    vendor = "paytronix"
    operation = "resetGuestPassword"

    def __init__(self, client: PaytronixClient, merchant_id: int) -> None:
        self._client = client
        self._merchant_id = merchant_id

    def set_password(self, *, reset_code: str, new_password: str) -> Outcome:
        return self._client.reset_guest_password(
            build(
                ResetGuestPassword,
                merchantId=self._merchant_id,
                resetPasswordCode=reset_code,
                newPassword=new_password,
            )
        )
