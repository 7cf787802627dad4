"""Configuration checked at start: each problem named with where it is, exit code 2,
and nothing recorded (``frontdesk serve`` run as a process, as an operator would)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from pydantic import SecretStr

from bot.config import ConfigurationError, Settings, load_locations, preflight
from bot.devtools.stack import DEMO_SECRETS, LOCATIONS_YAML, PAYMENT_TOKEN_KEY

ROOT = Path(__file__).resolve().parents[1]


def _env(tmp_path: Path, locations: str = LOCATIONS_YAML, **overrides: str | None) -> dict:
    path = tmp_path / "locations.yml"
    path.write_text(textwrap.dedent(locations))
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("FRONTDESK_") or key in ("FRONTDESK_REQUIRE_POSTGRES",)
    }
    env.update(
        {
            **DEMO_SECRETS,
            "FRONTDESK_SLACK_BOT_TOKEN": "xoxb-test",
            "FRONTDESK_SLACK_SIGNING_SECRET": "signing-secret",
            # Never reached: the configuration stops `serve` before any network.
            "FRONTDESK_SLACK_API_URL": "http://127.0.0.1:9/api/",
            "FRONTDESK_DATABASE_URL": f"sqlite:///{tmp_path / 'fd.sqlite3'}",
            "FRONTDESK_LOCATIONS_FILE": str(path),
            "FRONTDESK_PAYMENT_TOKEN_KEYS": PAYMENT_TOKEN_KEY,
            "FRONTDESK_HTTP_PORT": "0",
            "FRONTDESK_METRICS_PORT": "0",
        }
    )
    for key, value in overrides.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def _serve(tmp_path: Path, env: dict) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "bot.cli", "serve"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    # Nothing recorded: the database was not even created, let alone migrated.
    assert not (tmp_path / "fd.sqlite3").exists()
    return result


def _replace(old: str, new: str) -> str:
    assert old in LOCATIONS_YAML
    return LOCATIONS_YAML.replace(old, new, 1)


CASES = {
    "invalid YAML": (
        {"locations": _replace("    store_id: 101\n", "    store_id: 101\n   chain: [\n")},
        "locations.yml: invalid YAML at line",
    ),
    "schema": (
        {"locations": _replace("store_id: 101", "store_id: one-oh-one")},
        "locations.yml: location 'downtown', field 'store_id': Input should be a valid integer",
    ),
    "unknown key": (
        {"locations": _replace("customer_brand_name:", "customer_brand:")},
        "locations.yml: location 'sparkle', field 'customer_brand': Extra inputs",
    ),
    "time zone": (
        {"locations": _replace("America/New_York", "America/Springfield")},
        "locations.yml: location 'downtown', field 'timezone': unknown time zone "
        "'America/Springfield'",
    ),
    "channel id": (
        {"locations": _replace("approvals_channel: C0APPROVALS", "approvals_channel: approvals")},
        "locations.yml: location 'downtown', field 'approvals_channel': 'approvals' is not a "
        "Slack channel id",
    ),
    "vendor": (
        {"locations": _replace("vendor: registrar", "vendor: mindbody")},
        "locations.yml: location 'sparkle', field 'vendor': should be one of clubready",
    ),
    "location secret unset": (
        {"FRONTDESK_DEMO_PX_CLIENT_SECRET": None},
        "locations.yml: location 'bistro', field 'client_secret_env': environment variable "
        "FRONTDESK_DEMO_PX_CLIENT_SECRET is not set",
    ),
    "location secret empty": (
        {"FRONTDESK_DEMO_CLUBREADY_KEY": ""},
        "locations.yml: location 'downtown', field 'api_key_env': environment variable "
        "FRONTDESK_DEMO_CLUBREADY_KEY is empty",
    ),
    "b2b secret unset": (
        {"FRONTDESK_DEMO_PX_B2B_PASS": None},
        "location 'partner-bistro', field 'b2b_password_env': environment variable "
        "FRONTDESK_DEMO_PX_B2B_PASS is not set",
    ),
    "signing secret": (
        {"FRONTDESK_SLACK_SIGNING_SECRET": ""},
        "environment variable FRONTDESK_SLACK_SIGNING_SECRET is empty, blank or not set",
    ),
    "bot token": (
        {"FRONTDESK_SLACK_BOT_TOKEN": None},
        "environment variable FRONTDESK_SLACK_BOT_TOKEN is empty, blank or not set",
    ),
    "app token": (
        {
            "FRONTDESK_SLACK_APP_TOKEN": "xoxb-not-an-app-token",
            "FRONTDESK_SLACK_SIGNING_SECRET": "",
        },
        "environment variable FRONTDESK_SLACK_APP_TOKEN is not an app-level token",
    ),
    "payment keys": (
        {"FRONTDESK_PAYMENT_TOKEN_KEYS": "not-a-fernet-key"},
        "environment variable FRONTDESK_PAYMENT_TOKEN_KEYS: key #1 is not a Fernet key",
    ),
    "malformed setting": (
        {"FRONTDESK_HTTP_PORT": "eighty"},
        "environment variable FRONTDESK_HTTP_PORT: Input should be a valid integer",
    ),
    "negative worker threads": (
        {"FRONTDESK_WORKER_THREADS": "-1"},
        "environment variable FRONTDESK_WORKER_THREADS: Input should be greater than or equal",
    ),
    "negative reset limit": (
        {"FRONTDESK_RESET_LIMIT_PER_HOUR": "-1"},
        "environment variable FRONTDESK_RESET_LIMIT_PER_HOUR: Input should be greater than",
    ),
    "approval window": (
        {"FRONTDESK_SALE_APPROVAL_HOURS": "-5"},
        "environment variable FRONTDESK_SALE_APPROVAL_HOURS: Input should be greater than 0",
    ),
    "database kind": (
        {"FRONTDESK_DATABASE_URL": "mysql://db/frontdesk"},
        "environment variable FRONTDESK_DATABASE_URL: frontdesk runs on SQLite",
    ),
    "catalog price": (
        {"locations": _replace('amount: "49.00"', 'amount: "49.001"')},
        "location 'downtown', field 'catalog[0].amount': an amount is zero or more, with at "
        "most two decimals",
    ),
    "missing file": (
        {"FRONTDESK_LOCATIONS_FILE": "/nonexistent/locations.yml"},
        "/nonexistent/locations.yml: the locations file does not exist",
    ),
    # The review's misconfig.py: each of these was a traceback (exit 1), started the
    # server, or refused only after migrations.
    **{
        f"{name} {value}": (
            {f"FRONTDESK_{name}": value},
            f"environment variable FRONTDESK_{name}: Input should be",
        )
        for name, value in (
            ("GUEST_CODE_HOURS", "inf"),
            ("GUEST_CODE_HOURS", "nan"),
            ("GUEST_CODE_HOURS", "1e12"),
            ("SALE_APPROVAL_HOURS", "inf"),
            ("WORKER_LEASE_SECONDS", "inf"),
            ("VENDOR_READ_TIMEOUT", "inf"),
            ("USERGROUP_REFRESH_MINUTES", "1e300"),
        )
    },
    "bootstrap admins not a list": (
        {"FRONTDESK_BOOTSTRAP_ADMINS": "notjson"},
        "environment variable FRONTDESK_BOOTSTRAP_ADMINS: 'notjson': not a Slack user id",
    ),
    "bootstrap admins broken JSON": (
        {"FRONTDESK_BOOTSTRAP_ADMINS": '["U012ADMIN",'},
        "environment variable FRONTDESK_BOOTSTRAP_ADMINS: not a JSON list of Slack user ids",
    ),
    "blank signing secret": (
        {"FRONTDESK_SLACK_SIGNING_SECRET": "   "},
        "environment variable FRONTDESK_SLACK_SIGNING_SECRET is empty, blank or not set",
    ),
    "empty code parameter": (
        {"FRONTDESK_GUEST_PAGE_CODE_PARAMETER": ""},
        "environment variable FRONTDESK_GUEST_PAGE_CODE_PARAMETER: '' is not a query parameter",
    ),
    "slack api url": (
        {"FRONTDESK_SLACK_API_URL": "not a url"},
        "environment variable FRONTDESK_SLACK_API_URL: 'not a url' is not an http(s) URL",
    ),
    "paytronix url": (
        {"FRONTDESK_PAYTRONIX_URL": "ftp://x"},
        "environment variable FRONTDESK_PAYTRONIX_URL: 'ftp://x' is not an http(s) URL",
    ),
    "location host": (
        {"locations": _replace("merchant_id: 1234", "merchant_id: 1234\n    host: ftp://px")},
        "location 'bistro', field 'host': 'ftp://px' is not an http(s) URL",
    ),
    "trusted proxy network": (
        {"FRONTDESK_TRUSTED_PROXY": "10.0.0.0/8"},
        "environment variable FRONTDESK_TRUSTED_PROXY: '10.0.0.0/8' is not one IP address",
    ),
    "trusted proxy garbage": (
        {"FRONTDESK_TRUSTED_PROXY": "not an address!"},
        "environment variable FRONTDESK_TRUSTED_PROXY: 'not an address!' is not one IP address",
    ),
    "sqlite folder missing": (
        {"FRONTDESK_DATABASE_URL": "sqlite:////nonexistent/folder/fd.sqlite3"},
        "environment variable FRONTDESK_DATABASE_URL: the folder /nonexistent/folder of the "
        "SQLite database",
    ),
    "postgresql unreachable": (
        {"FRONTDESK_DATABASE_URL": "postgresql://fd:hunter2-pw@127.0.0.1:9/fd"},
        "environment variable FRONTDESK_DATABASE_URL: cannot connect to "
        "postgresql+psycopg://fd:***@127.0.0.1:9/fd",
    ),
    "guest page path on slack's": (
        {"FRONTDESK_GUEST_PAGE_PATH": "/slack/events/"},
        "environment variable FRONTDESK_GUEST_PAGE_PATH: the guest page path starts with /",
    ),
    "unresolvable http host": (
        {"FRONTDESK_HTTP_HOST": "no.such.host.invalid"},
        "FRONTDESK_HTTP_HOST/FRONTDESK_HTTP_PORT (no.such.host.invalid:0): cannot listen there",
    ),
    # SQLite is one process: no other would ever deliver notices or call vendors.
    "no notifier on sqlite": (
        {"FRONTDESK_NOTIFIER_THREADS": "0"},
        "environment variable FRONTDESK_NOTIFIER_THREADS is 0 on SQLite",
    ),
    "no worker on sqlite": (
        {"FRONTDESK_WORKER_THREADS": "0"},
        "environment variable FRONTDESK_WORKER_THREADS is 0 on SQLite",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_serve_refuses_a_bad_configuration_with_exit_code_2(tmp_path: Path, case: str) -> None:
    overrides, expected = CASES[case]
    locations = overrides.pop("locations", LOCATIONS_YAML)
    assert locations is not None
    result = _serve(tmp_path, _env(tmp_path, locations, **overrides))
    assert result.returncode == 2, result.stderr
    assert "configuration error" in result.stderr
    assert expected in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert "hunter2-pw" not in result.stderr


@pytest.mark.parametrize("which", ["HTTP", "METRICS"])
def test_an_address_in_use_is_named_before_the_database_is_touched(
    tmp_path: Path, which: str
) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = str(busy.getsockname()[1])
        result = _serve(tmp_path, _env(tmp_path, **{f"FRONTDESK_{which}_PORT": port}))
    assert result.returncode == 2, result.stderr
    assert f"FRONTDESK_{which}_HOST/FRONTDESK_{which}_PORT (127.0.0.1:{port}): cannot listen" in (
        result.stderr
    )
    other = "METRICS" if which == "HTTP" else "HTTP"
    assert f"FRONTDESK_{other}_" not in result.stderr and "Traceback" not in result.stderr


def test_settings_take_what_waitress_and_slack_accept() -> None:
    settings = Settings(
        trusted_proxy=" 2001:DB8::1 ", bootstrap_admins="U012ADMIN, T012TEAM:U0OTHER"
    )
    assert settings.trusted_proxy == "2001:db8::1"  # as the peer's address is written
    assert settings.bootstrap_admins == ["U012ADMIN", "T012TEAM:U0OTHER"]
    assert Settings(trusted_proxy="*", bootstrap_admins='["U1"]').bootstrap_admins == ["U1"]
    assert Settings(trusted_proxy="").trusted_proxy is None


def test_every_problem_is_named_at_once(tmp_path: Path) -> None:
    locations = _replace("store_id: 101", "store_id: x").replace("America/New_York", "Mars/Base")
    result = _serve(tmp_path, _env(tmp_path, locations, FRONTDESK_DEMO_CLUBREADY_KEY=None))
    assert result.returncode == 2
    assert "field 'store_id'" in result.stderr and "field 'timezone'" in result.stderr
    secrets = _serve(
        tmp_path,
        _env(
            tmp_path,
            FRONTDESK_DEMO_CLUBREADY_KEY=None,
            FRONTDESK_DEMO_PX_CLIENT_ID=None,
            FRONTDESK_SLACK_SIGNING_SECRET=None,
        ),
    )
    assert secrets.returncode == 2
    for name in (
        "FRONTDESK_DEMO_CLUBREADY_KEY",
        "FRONTDESK_DEMO_PX_CLIENT_ID",
        "FRONTDESK_SLACK_SIGNING_SECRET",
    ):
        assert name in secrets.stderr


def test_each_location_lists_the_secrets_it_names(tmp_path: Path) -> None:
    path = tmp_path / "locations.yml"
    path.write_text(textwrap.dedent(LOCATIONS_YAML))
    locations = load_locations(path)
    assert {k: loc.secret_envs() for k, loc in locations.items()} == {
        "downtown": {"api_key_env": "FRONTDESK_DEMO_CLUBREADY_KEY"},
        "sparkle": {},
        "bistro": {
            "client_id_env": "FRONTDESK_DEMO_PX_CLIENT_ID",
            "client_secret_env": "FRONTDESK_DEMO_PX_CLIENT_SECRET",
        },
        "partner-bistro": {
            "client_id_env": "FRONTDESK_DEMO_PX_CLIENT_ID",
            "client_secret_env": "FRONTDESK_DEMO_PX_CLIENT_SECRET",
            "b2b_username_env": "FRONTDESK_DEMO_PX_B2B_USER",
            "b2b_password_env": "FRONTDESK_DEMO_PX_B2B_PASS",
        },
    }


def test_socket_mode_needs_no_signing_secret(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "locations.yml"
    path.write_text(textwrap.dedent(LOCATIONS_YAML))
    for key, value in DEMO_SECRETS.items():
        monkeypatch.setenv(key, value)
    settings = Settings(
        slack_bot_token="xoxb-1",
        slack_app_token="xapp-1",
        locations_file=path,
        payment_token_keys=PAYMENT_TOKEN_KEY,
    )
    assert set(preflight(settings)) == {"downtown", "sparkle", "bistro", "partner-bistro"}
    with pytest.raises(ConfigurationError, match="FRONTDESK_SLACK_SIGNING_SECRET"):
        preflight(settings.model_copy(update={"slack_app_token": SecretStr("")}))
