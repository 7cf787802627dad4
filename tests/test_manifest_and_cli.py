"""The manifest against Slack's schema and the app's listeners; the command line."""

from __future__ import annotations

import json
import logging
import textwrap
from pathlib import Path

import jsonschema
import pytest
import yaml
from typer.testing import CliRunner

from bot.cli import app as cli
from bot.devtools.stack import wait_for
from bot.slack.ids import Command, Shortcut, Step

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = ROOT.parent / "shared" / "slack-manifest-schema" / "manifest.schema.2.0.0.json"


def test_manifest_is_valid_and_matches_the_commands() -> None:
    manifest = yaml.safe_load((ROOT / "manifest.yml").read_text())
    if SCHEMA.exists():
        jsonschema.validate(manifest, json.loads(SCHEMA.read_text()))
    commands = {c["command"] for c in manifest["features"]["slash_commands"]}
    assert commands == {c.value for c in Command}
    assert manifest["settings"]["interactivity"]["is_enabled"] is True
    # Least privilege: DMs to a user id and channel posts need chat:write; reading the
    # members of the user groups mapped to roles needs usergroups:read; checking at start
    # that the bot is in each configured channel (conversations.info) needs channels:read
    # for public and groups:read for private ones; looking up a post whose answer was
    # lost needs the history of where frontdesk posts (and im:write to find a DM's
    # channel id); nothing else.
    assert set(manifest["oauth_config"]["scopes"]["bot"]) == {
        "commands",
        "chat:write",
        "usergroups:read",
        "channels:read",
        "groups:read",
        "channels:history",
        "groups:history",
        "im:history",
        "im:write",
    }
    # Shortcuts need only `commands`; Workflow Builder steps (function_executed, and
    # functions.completeSuccess / completeError) need no scope at all.
    assert manifest["settings"]["event_subscriptions"]["bot_events"] == [
        "app_home_opened",
        "function_executed",
    ]
    assert manifest["features"]["app_home"]["home_tab_enabled"] is True
    shortcuts = {s["callback_id"] for s in manifest["features"]["shortcuts"]}
    assert shortcuts == {s.value for s in Shortcut}
    # Steps run here (not on Slack's infrastructure), in an org-ready app.
    assert manifest["settings"]["function_runtime"] == "remote"
    assert manifest["settings"]["org_deploy_enabled"] is True
    assert set(manifest["functions"]) == {s.value for s in Step}
    # Every scope the manifest asks for is named, with why, in the README.
    readme = (ROOT / "README.md").read_text()
    for scope in manifest["oauth_config"]["scopes"]["bot"]:
        assert f"`{scope}`" in readme, scope


def test_manifest_command_sets_the_public_url_in_every_place(tmp_path: Path) -> None:
    """One place to set the public address: every URL Slack needs, schema-valid."""
    out = tmp_path / "manifest.yml"
    runner = CliRunner()
    result = runner.invoke(
        cli, ["manifest", "--url", "https://fd.example.org:8443/", "--output", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert f"wrote {out}" in result.output
    manifest = yaml.safe_load(out.read_text())
    jsonschema.validate(manifest, json.loads(SCHEMA.read_text()))
    urls = [c["url"] for c in manifest["features"]["slash_commands"]] + [
        manifest["settings"]["interactivity"]["request_url"],
        manifest["settings"]["event_subscriptions"]["request_url"],
    ]
    assert len(urls) == len(Command) + 2
    assert set(urls) == {"https://fd.example.org:8443/slack/events"}
    assert "frontdesk.example.com" not in out.read_text()
    # The rest is the app's manifest as it is (its comments too).
    original = (ROOT / "manifest.yml").read_text()
    assert out.read_text().count("\n") == original.count("\n")
    printed = runner.invoke(cli, ["manifest", "--url", "https://other.example.net"])
    assert printed.exit_code == 0 and "https://other.example.net/slack/events" in printed.output
    for bad in ("http://fd.example.org", "https://fd.example.org/app", "fd.example.org"):
        refused = runner.invoke(cli, ["manifest", "--url", bad])
        assert refused.exit_code == 2 and "https://host" in refused.output


def test_locations_example_loads_with_the_apps_loader(monkeypatch) -> None:
    """locations.example.yml, beside the README, is a file the app accepts as it is."""
    from bot.config import ClubReadyLocation, load_locations, load_usergroup_roles

    path = ROOT / "locations.example.yml"
    locations = load_locations(path)
    assert {loc.vendor for loc in locations.values()} == {"clubready", "registrar", "paytronix"}
    downtown = locations["downtown"]
    assert isinstance(downtown, ClubReadyLocation) and downtown.catalog
    assert downtown.approvals_channel and downtown.triage_channel
    assert {m.role for m in load_usergroup_roles(path)} == {"support", "manager"}
    assert "locations.example.yml" in (ROOT / "README.md").read_text()


def test_demo_runs_and_leaves_its_database(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["demo", "--directory", str(tmp_path / "demo")])
    assert result.exit_code == 0, result.output
    assert "Reset sent" in result.output and "Claimed by" in result.output
    # Issue 16: the confirmation where the person is, their typo caught before Send.
    assert (
        "Fran sees, privately in #front-desk: Reset the password of `jane@example.com` at "
        "*Downtown Fitness* (ClubReady)? [Send] [Cancel]" in result.output
    )
    assert "(2 taps, all in #front-desk)" in result.output
    assert "Reset the password of `jnae@example.com` at *Bistro Rewards*" in result.output
    assert "The modal now says: «Reset a password» :white_check_mark: Reset sent" in result.output
    assert "Did you mean Downtown Fitness (`downtown`)?" in result.output
    assert "Sold (ClubReady user" in result.output
    assert "Reconciled by" in result.output
    assert "ClubReady received 2 sale requests in all" in result.output
    # The b2b story ends with the guest choosing a new password on frontdesk's page.
    guest = result.output.split("Story 6")[1].split("Story 7")[0]
    assert "did not accept this password" in guest and "Your new password is set" in guest
    assert "the guest's password is now the one they chose: True" in guest
    # A message shortcut fills the reset modal with the member the message names, and a
    # Workflow Builder step completes with the vendor's outcome.
    assert "filled in: Member email: jane@example.com" in result.output
    assert "The step completed with outputs {'outcome': 'sent'" in result.output
    # A sale nobody answers: a reminder (thread and Morgan's DM), then an escalation,
    # and the requester's DM lists who was asked.
    story = result.output.split("Story 8")[1]
    assert "#approvals thread sees: :bell: Still waiting for a decision" in story
    assert "Morgan (manager) sees: :bell: A sale waits for your decision" in story
    assert "#approvals thread sees: :rotating_light: Escalated to <!subteam^S0LEADS>" in story
    assert "Reminder <!date^" in story and "by direct message <@UMORGAN>" in story
    assert (tmp_path / "demo" / "frontdesk.sqlite3").exists()


def test_db_upgrade_and_roles_commands(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("FRONTDESK_DATABASE_URL", f"sqlite:///{tmp_path / 'fd.sqlite3'}")
    monkeypatch.setenv("FRONTDESK_LOCATIONS_FILE", str(ROOT / "locations.example.yml"))
    runner = CliRunner()
    assert runner.invoke(cli, ["db", "upgrade"]).exit_code == 0
    granted = runner.invoke(cli, ["roles", "grant", "U1", "admin", "--team", "T1"])
    assert granted.exit_code == 0 and "granted" in granted.output
    again = runner.invoke(cli, ["roles", "grant", "U1", "admin", "--team", "T1"])
    assert "already granted" in again.output
    runner.invoke(
        cli, ["roles", "grant", "U2", "front_desk", "--team", "T1", "--location", "downtown"]
    )
    listed = runner.invoke(cli, ["roles", "list"]).output
    assert "T1:U1\tadmin\tall locations" in listed and "T1:U2\tfront_desk\tdowntown" in listed
    assert (
        "revoked"
        in runner.invoke(
            cli, ["roles", "revoke", "U2", "front_desk", "--team", "T1", "--location", "downtown"]
        ).output
    )
    assert "U2" not in runner.invoke(cli, ["roles", "list"]).output


def test_checklist_grant_of_the_first_admin_works_on_a_fresh_database(
    tmp_path: Path, monkeypatch
) -> None:
    """Review finding 3: the README's step 6 (`frontdesk roles grant … admin --team …`)
    comes before the first `serve`: it brings the schema up itself. What cannot be a
    grant is told in words with exit code 2, never a traceback."""
    monkeypatch.setenv("FRONTDESK_DATABASE_URL", f"sqlite:///{tmp_path / 'fresh.sqlite3'}")
    monkeypatch.setenv("FRONTDESK_LOCATIONS_FILE", str(ROOT / "locations.example.yml"))
    runner = CliRunner()
    granted = runner.invoke(cli, ["roles", "grant", "U012ADMIN", "admin", "--team", "T012TEAM"])
    assert granted.exit_code == 0, granted.output or repr(granted.exception)
    assert granted.output.strip().endswith("granted")
    # On Enterprise Grid the organization is the person: its id (E…) is accepted.
    grid = runner.invoke(cli, ["roles", "grant", "W012", "front desk", "--team", "E012ORG"])
    assert grid.exit_code == 0, grid.output
    listed = runner.invoke(cli, ["roles", "list"]).output
    assert "T012TEAM:U012ADMIN\tadmin" in listed and "E012ORG:W012\tfront_desk" in listed
    refusals = {
        ("U1", "chief", "T1", None): "'chief' is not a role: give one of front_desk, manager",
        ("jane", "admin", "T1", None): "'jane' is not a Slack member id (U… or W…)",
        ("U1", "admin", "acme", None): "'acme' is not a Slack team id (T…, or E… on Enterprise",
        ("U1", "manager", "T1", "uptown"): "no location 'uptown' in ",
    }
    for (user, role, team, location), words in refusals.items():
        args = ["roles", "grant", user, role, "--team", team]
        refused = runner.invoke(cli, args + (["--location", location] if location else []))
        assert refused.exit_code == 2 and words in refused.output, refused.output
        assert refused.exception is None or isinstance(refused.exception, SystemExit)
    readme = (ROOT / "README.md").read_text()
    assert "app.slack.com/client/T" in readme  # where to find the team id


def test_manifest_command_works_from_an_installed_wheel(tmp_path: Path) -> None:
    """Review finding 4: production installs a wheel (`pip install --no-deps .`): the
    manifest ships in it as package data, so `frontdesk manifest` works there."""
    import os
    import shutil
    import subprocess
    import sys

    src = tmp_path / "src"
    src.mkdir()
    for name in ("bot", "vendors", "storage"):
        shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "manifest.yml", "README.md"):
        shutil.copy(ROOT / name, src / name, follow_symlinks=False)
    pip = [sys.executable, "-m", "pip"]
    dist, site = tmp_path / "dist", tmp_path / "site"
    subprocess.run(
        [*pip, "wheel", "-q", "--no-deps", "--no-build-isolation", str(src), "-w", str(dist)],
        check=True,
        capture_output=True,
        cwd=src,
    )
    wheel = next(dist.glob("*.whl"))
    subprocess.run(
        [*pip, "install", "-q", "--no-deps", "--target", str(site), str(wheel)],
        check=True,
        capture_output=True,
    )
    run = subprocess.run(
        [sys.executable, "-c", "from bot.cli import main; main()", "manifest", "--url",
         "https://frontdesk.example.com"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(site)},
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-600:]
    assert "https://frontdesk.example.com/slack/events" in run.stdout
    shipped = yaml.safe_load(run.stdout)
    assert shipped["features"] == yaml.safe_load((ROOT / "manifest.yml").read_text())["features"]


@pytest.mark.parametrize(
    "url",
    [
        "https://exa mple.com",  # a space in the host
        "https://frontdesk.example.com:99999",  # no such port
        "https://frontdesk.example.com:abc",  # not a port at all
        'https://front"desk.example.com',  # not a host name
        "https://-frontdesk.example.com",  # a label cannot start with a hyphen
    ],
)
def test_manifest_refuses_an_address_that_is_not_a_host(url: str) -> None:
    """Review finding 5: the schema only asks for ``^https?://``, so nothing else
    would catch these before Slack."""
    refused = CliRunner().invoke(cli, ["manifest", "--url", url])
    assert refused.exit_code == 2, refused.output
    assert "https://host" in refused.output and "slack/events" not in refused.output


def test_manifest_writes_an_international_host_as_slack_can_use_it() -> None:
    """Review finding 5: a URL in the manifest is ASCII: an international host as IDNA."""
    from bot.manifest import manifest_for

    text = manifest_for("https://Exämple.com")
    assert "ämple" not in text and "https://xn--exmple-cua.com/slack/events" in text


def test_keygen_makes_a_key_the_vault_accepts() -> None:
    from bot.workflows.vault import TokenVault

    result = CliRunner().invoke(cli, ["keygen"])
    assert result.exit_code == 0
    key = result.output.strip()
    vault = TokenVault(key)
    assert vault.open(vault.seal(["tok"])) == ["tok"]


def test_serve_uses_socket_mode_when_an_app_token_is_set(tmp_path: Path, monkeypatch) -> None:
    import slack_bolt.adapter.socket_mode as socket_mode

    from bot.devtools.fake_slack import FakeSlack
    from bot.devtools.stack import CHANNELS, DEMO_SECRETS, LOCATIONS_YAML, PAYMENT_TOKEN_KEY

    started: list[tuple[object, str]] = []

    class FakeHandler:
        def __init__(self, app: object, app_token: str) -> None:
            self.args = (app, app_token)

        def start(self) -> None:
            started.append(self.args)

    monkeypatch.setattr(socket_mode, "SocketModeHandler", FakeHandler)
    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", list(root.handlers))  # serve configures logging
    locations = tmp_path / "locations.yml"
    locations.write_text(textwrap.dedent(LOCATIONS_YAML))
    for key, value in {
        **DEMO_SECRETS,
        "FRONTDESK_SLACK_APP_TOKEN": "xapp-test-token",
        "FRONTDESK_SLACK_BOT_TOKEN": "bot-token",
        "FRONTDESK_METRICS_PORT": "0",
        "FRONTDESK_DATABASE_URL": f"sqlite:///{tmp_path / 'fd.sqlite3'}",
        "FRONTDESK_LOCATIONS_FILE": str(locations),
        "FRONTDESK_PAYMENT_TOKEN_KEYS": PAYMENT_TOKEN_KEY,
    }.items():
        monkeypatch.setenv(key, value)
    with FakeSlack() as slack:  # the channel check at start asks it, never slack.com
        for channel in CHANNELS:
            slack.add_channel(channel)
        monkeypatch.setenv("FRONTDESK_SLACK_API_URL", slack.url)
        result = CliRunner().invoke(cli, ["serve"])
        assert result.exit_code == 0, result.output
        assert "Socket Mode" in result.output
        [(app, token)] = started
        assert token == "xapp-test-token" and type(app).__name__ == "App"
        wait_for(lambda: len(slack.calls_to("conversations.info")) == 2)


def test_serve_refuses_to_start_without_a_payment_token_key(tmp_path: Path, monkeypatch) -> None:
    from bot.devtools.stack import DEMO_SECRETS, LOCATIONS_YAML

    locations = tmp_path / "locations.yml"
    locations.write_text(textwrap.dedent(LOCATIONS_YAML))
    for key, value in DEMO_SECRETS.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("FRONTDESK_DATABASE_URL", f"sqlite:///{tmp_path / 'fd.sqlite3'}")
    monkeypatch.setenv("FRONTDESK_LOCATIONS_FILE", str(locations))
    monkeypatch.delenv("FRONTDESK_PAYMENT_TOKEN_KEYS", raising=False)
    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", list(root.handlers))
    result = CliRunner().invoke(cli, ["serve"])
    assert result.exit_code == 2
    assert "FRONTDESK_PAYMENT_TOKEN_KEYS" in result.output
