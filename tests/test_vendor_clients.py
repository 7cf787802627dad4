"""VendorClients: every location's adapters built with the app, typed, by its own
configuration class; the total deadline setting, checked against the worker lease."""

from __future__ import annotations

import base64
import json
import logging
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
import respx
import yaml
from pydantic import ValidationError
from typer.testing import CliRunner

from bot.cli import app as cli
from bot.config import ConfigurationError, LocationsFile, Settings, load_locations
from bot.devtools.stack import DEMO_SECRETS, LOCATIONS_YAML, PAYMENT_TOKEN_KEY
from bot.vendor_clients import NotOffered, VendorClients
from vendors import MemberIdentity, OutcomeKind, new_reset_code
from vendors.sandbox import Fault, Sandbox


@pytest.fixture
def locations(tmp_path: Path) -> dict:
    path = tmp_path / "locations.yml"
    path.write_text(textwrap.dedent(LOCATIONS_YAML))
    return load_locations(path)


@pytest.fixture
def secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in DEMO_SECRETS.items():
        monkeypatch.setenv(key, value)


def settings_for(sandbox: Sandbox, **overrides: Any) -> Settings:
    return Settings(
        clubready_url=sandbox.base_url("clubready"),
        registrar_url=sandbox.base_url("registrar"),
        paytronix_url=sandbox.base_url("paytronix"),
        **overrides,
    )


@pytest.mark.parametrize(
    "variable", sorted(v for v in DEMO_SECRETS if v != "FRONTDESK_GUEST_CODE_KEYS")
)
def test_a_missing_secret_stops_the_build_naming_the_variable(
    locations: dict, secrets: None, monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    monkeypatch.delenv(variable)
    with pytest.raises(ConfigurationError, match=variable):
        VendorClients(Settings(), locations)  # at build, not at first use


def test_each_location_offers_what_it_has(locations: dict, secrets: None) -> None:
    clients = VendorClients(Settings(), locations)
    try:
        assert {clients.resetter(i).vendor for i in locations} == {
            "clubready",
            "registrar",
            "paytronix",
        }
        assert clients.seller("downtown").operation == "contract_sale"
        for no_sales in ("sparkle", "bistro", "partner-bistro"):
            with pytest.raises(NotOffered, match="does not sell"):
                clients.seller(no_sales)
        assert clients.guest_passwords("partner-bistro").operation == "resetGuestPassword"
        for other in ("downtown", "sparkle", "bistro"):
            with pytest.raises(NotOffered):
                clients.guest_passwords(other)
        with pytest.raises(NotOffered):
            clients.resetter("nowhere")
        assert clients.resetter("partner-bistro").issues_own_code
        assert not clients.resetter("bistro").issues_own_code
    finally:
        clients.close()


def test_demo_locations_reach_the_sandbox_through_their_adapters(
    locations: dict, secrets: None
) -> None:
    with Sandbox() as sandbox:
        clients = VendorClients(settings_for(sandbox), locations)
        try:
            b2b = clients.resetter("partner-bistro")
            code = new_reset_code()
            # A guest of a third-party-held merchant, by username (issue 13, deviation 4).
            sent = b2b.reset(MemberIdentity(username="thirdparty"), reset_code=code)
            assert sent.succeeded, sent.message
            wire = sandbox.received("paytronix")[-1]
            assert set(wire.json) == {"authentication", "merchantId", "username", "resetCode"}
            done = clients.guest_passwords("partner-bistro").set_password(
                reset_code=code, new_password="correct horse battery 9"
            )
            assert done.succeeded, done.message
        finally:
            clients.close()


def test_the_deadline_setting_bounds_every_call(locations: dict, secrets: None) -> None:
    with Sandbox() as sandbox:
        sandbox.inject(Fault("drip", vendor="registrar", seconds=0.2))
        clients = VendorClients(settings_for(sandbox, vendor_deadline_seconds=1.0), locations)
        try:
            started = time.monotonic()
            outcome = clients.resetter("sparkle").reset(MemberIdentity(email="jane@example.com"))
            assert time.monotonic() - started < 1.0 + 0.5
            assert outcome.kind is OutcomeKind.UNKNOWN
        finally:
            clients.close()


def test_the_deadline_must_be_under_half_the_lease() -> None:
    assert Settings().vendor_deadline_seconds == 30
    Settings(vendor_deadline_seconds=59, worker_lease_seconds=120)
    for deadline, lease in ((60, 120), (90, 120), (30, 40)):
        with pytest.raises(ValidationError, match="FRONTDESK_VENDOR_DEADLINE_SECONDS"):
            Settings(vendor_deadline_seconds=deadline, worker_lease_seconds=lease)
    with pytest.raises(ValidationError):
        Settings(vendor_deadline_seconds=0)


def test_serve_refuses_a_deadline_as_long_as_half_the_lease(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FRONTDESK_DATABASE_URL", f"sqlite:///{tmp_path / 'fd.sqlite3'}")
    monkeypatch.setenv("FRONTDESK_VENDOR_DEADLINE_SECONDS", "60")
    monkeypatch.setenv("FRONTDESK_WORKER_LEASE_SECONDS", "120")
    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", list(root.handlers))
    result = CliRunner().invoke(cli, ["serve"])
    assert result.exit_code == 2
    assert "FRONTDESK_VENDOR_DEADLINE_SECONDS" in result.output
    assert not (tmp_path / "fd.sqlite3").exists()  # nothing done


def test_serve_names_a_missing_vendor_secret_and_exits_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, secrets: None
) -> None:
    locations = tmp_path / "locations.yml"
    locations.write_text(textwrap.dedent(LOCATIONS_YAML))
    monkeypatch.delenv("FRONTDESK_DEMO_PX_B2B_PASS")
    monkeypatch.setenv("FRONTDESK_DATABASE_URL", f"sqlite:///{tmp_path / 'fd.sqlite3'}")
    monkeypatch.setenv("FRONTDESK_LOCATIONS_FILE", str(locations))
    monkeypatch.setenv("FRONTDESK_PAYMENT_TOKEN_KEYS", PAYMENT_TOKEN_KEY)
    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", list(root.handlers))
    result = CliRunner().invoke(cli, ["serve"])
    assert result.exit_code == 2
    assert "FRONTDESK_DEMO_PX_B2B_PASS" in result.output and "partner-bistro" in result.output


def paytronix_location(**fields: Any) -> dict[str, Any]:
    return {
        "id": "px",
        "name": "PX",
        "vendor": "paytronix",
        "merchant_id": 1,
        "release": "24.1",
        "client_id_env": "A",
        "client_secret_env": "B",
        "triage_channel": "C0TRIAGE",
        **fields,
    }


@pytest.mark.parametrize(
    ("fields", "says"),
    [
        ({"merchant_id": True}, "merchant_id"),
        ({"merchant_id": 5.0}, "merchant_id"),
        ({"b2b_username_env": "U"}, "both"),
        ({"b2b_body_members": {"username": "partnerUser", "password": "partnerSecret"}}, "b2b"),
        (
            {
                "b2b_username_env": "U",
                "b2b_password_env": "P",
                "b2b_body_members": {"username": "username", "password": "password"},
            },
            "identifies the guest",
        ),
        ({"account_of_record": "third_party"}, "auth_style: b2b"),
        ({"release": "latest"}, "pinned"),
    ],
)
def test_paytronix_configuration_is_checked_when_loaded(fields: dict, says: str) -> None:
    with pytest.raises(ValidationError, match=says):
        LocationsFile.model_validate({"locations": [paytronix_location(**fields)]})


def test_b2b_body_members_when_a_merchants_guide_names_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    document = {
        "locations": [
            paytronix_location(
                auth_style="b2b",
                b2b_username_env="U",
                b2b_password_env="P",
                b2b_body_members={"username": "partnerUser", "password": "partnerSecret"},
            )
        ]
    }
    path = tmp_path / "locations.yml"
    path.write_text(yaml.safe_dump(document))
    for name in "ABUP":
        monkeypatch.setenv(name, f"value-of-{name}")
    clients = VendorClients(Settings(), load_locations(path))
    try:
        with respx.mock:
            route = respx.post(url__regex=r".*/generateAndSendGuestResetPasswordCode\.json$")
            route.respond(200, json={"result": "success"})
            assert clients.resetter("px").reset(MemberIdentity(username="guest1")).succeeded
        request = route.calls.last.request
        assert json.loads(request.content) == {
            "authentication": "b2b",
            "partnerUser": "value-of-U",
            "partnerSecret": "value-of-P",
            "merchantId": 1,
            "username": "guest1",
        }
        pair = base64.b64encode(b"value-of-A:value-of-B").decode()
        assert request.headers["authorization"] == f"Basic {pair}"
    finally:
        clients.close()
