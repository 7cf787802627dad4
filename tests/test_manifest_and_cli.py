"""The manifest against Slack's schema and the app's listeners; the command line."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import yaml
from typer.testing import CliRunner

from bot.cli import app as cli
from bot.slack.ids import Command

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = ROOT.parent / "shared" / "slack-manifest-schema" / "manifest.schema.2.0.0.json"


def test_manifest_is_valid_and_matches_the_commands() -> None:
    manifest = yaml.safe_load((ROOT / "manifest.yml").read_text())
    if SCHEMA.exists():
        jsonschema.validate(manifest, json.loads(SCHEMA.read_text()))
    commands = {c["command"] for c in manifest["features"]["slash_commands"]}
    assert commands == {c.value for c in Command}
    assert manifest["settings"]["interactivity"]["is_enabled"] is True
    # Least privilege: DMs to a user id and channel posts need chat:write only.
    assert set(manifest["oauth_config"]["scopes"]["bot"]) == {"commands", "chat:write"}


def test_demo_runs_and_leaves_its_database(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["demo", "--directory", str(tmp_path / "demo")])
    assert result.exit_code == 0, result.output
    assert "Reset sent" in result.output and "Claimed by" in result.output
    assert "Sold (ClubReady user" in result.output
    assert "Reconciled by" in result.output
    assert "ClubReady received 2 sale requests in all" in result.output
    assert (tmp_path / "demo" / "frontdesk.sqlite3").exists()


def test_db_upgrade_and_roles_commands(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("FRONTDESK_DATABASE_URL", f"sqlite:///{tmp_path / 'fd.sqlite3'}")
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


def test_keygen_makes_a_key_the_vault_accepts() -> None:
    from bot.workflows.vault import TokenVault

    result = CliRunner().invoke(cli, ["keygen"])
    assert result.exit_code == 0
    key = result.output.strip()
    vault = TokenVault(key)
    assert vault.open(vault.seal(["tok"])) == ["tok"]
