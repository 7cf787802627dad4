"""Every location's vendor adapters, built once when the app is built.

Building reads each location's secrets from the environment, so a missing one is a
:class:`~bot.config.ConfigurationError` naming the variable at start, never a
request left half-done at first use. Each location's configuration class builds
its own adapters (``Location.adapters``): nothing here knows a vendor.
"""

from __future__ import annotations

from collections.abc import Mapping

from bot.config import Location, Settings
from vendors import (
    ContractSaleEndpoint,
    GuestPasswordAdapter,
    LocationAdapters,
    ResetAdapter,
    VendorHttp,
)


class NotOffered(LookupError):
    """The location does not offer that operation (or is not configured at all)."""


class VendorClients:
    """The adapters of every configured location, sharing one HTTP client whose
    every call is bounded by ``settings.vendor_deadline_seconds``."""

    def __init__(
        self,
        settings: Settings,
        locations: Mapping[str, Location],
        *,
        http: VendorHttp | None = None,
    ) -> None:
        self._http = http or VendorHttp(
            timeout=settings.vendor_timeout(), deadline=settings.vendor_deadline_seconds
        )
        try:
            self._adapters: dict[str, LocationAdapters] = {
                location_id: location.adapters(settings, self._http)
                for location_id, location in locations.items()
            }
        except BaseException:
            self._http.close()
            raise

    def _of(self, location_id: str) -> LocationAdapters:
        adapters = self._adapters.get(location_id)
        if adapters is None:
            raise NotOffered(f"location {location_id!r} is not configured")
        return adapters

    def resetter(self, location_id: str) -> ResetAdapter:
        return self._of(location_id).resetter

    def seller(self, location_id: str) -> ContractSaleEndpoint:
        seller = self._of(location_id).seller
        if seller is None:
            raise NotOffered(f"location {location_id!r} does not sell contracts")
        return seller

    def guest_passwords(self, location_id: str) -> GuestPasswordAdapter:
        """resetGuestPassword, at a Paytronix location whose accounts a third party holds."""
        passwords = self._of(location_id).guest_passwords
        if passwords is None:
            raise NotOffered(f"location {location_id!r} does not take guests' new passwords")
        return passwords

    def close(self) -> None:
        self._http.close()
