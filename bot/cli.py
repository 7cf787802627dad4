"""``frontdesk``: the command line (serve, sandbox, demo, roles, db, keygen, keys, audit, purge)."""

from __future__ import annotations

import logging
import re
import signal
import socket
import sys
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer

from bot.config import ConfigurationError, Settings

if TYPE_CHECKING:
    from bot.workflows.roles import Actor, Role, Roles
    from bot.workflows.vault import KeyUse, TokenVault
    from storage.db import Database

T = TypeVar("T")

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)
db_app = typer.Typer(no_args_is_help=True, help="Database schema.")
roles_app = typer.Typer(no_args_is_help=True, help="Grant, revoke and list roles.")
audit_app = typer.Typer(no_args_is_help=True, help="The audit trail.")
keys_app = typer.Typer(no_args_is_help=True, help="Payment-token keys: rotate, then retire.")
app.add_typer(db_app, name="db")
app.add_typer(roles_app, name="roles")
app.add_typer(audit_app, name="audit")
app.add_typer(keys_app, name="keys")


def _refuse(exc: ConfigurationError) -> typer.Exit:
    """Print every configuration problem, one a line; exit code 2."""
    problems = str(exc).splitlines() or ["(no detail)"]
    if len(problems) == 1:
        typer.echo(f"configuration error: {problems[0]}", err=True)
    else:
        listed = "".join(f"\n  - {line}" for line in problems)
        typer.echo(f"configuration error: {len(problems)} problems:{listed}", err=True)
    return typer.Exit(2)


def _settings() -> Settings:
    from bot.config import load_settings

    try:
        return load_settings()
    except ConfigurationError as exc:
        raise _refuse(exc) from exc


def _logging(level: str = "INFO") -> None:
    from bot.observability import configure_logging

    configure_logging(level)


@app.command()
def serve(
    migrate: Annotated[bool, typer.Option(help="Apply migrations before starting.")] = True,
) -> None:
    """Run the app: Socket Mode when FRONTDESK_SLACK_APP_TOKEN is set, HTTP otherwise.

    The whole configuration is checked first (exit code 2 and every problem named,
    before the database is touched), the listening addresses are taken and the
    database is reached; then migrations, the worker, the channel check (in the
    background), the metrics listener and Slack's.
    """
    from bot.app import build
    from bot.config import check_database, load_settings, preflight
    from storage.db import upgrade

    _logging()
    try:
        settings = load_settings()
        preflight(settings)
    except ConfigurationError as exc:
        raise _refuse(exc) from exc
    app_token = settings.slack_app_token.get_secret_value()
    sockets = _listeners(settings, http=not app_token)
    try:
        check_database(settings.database_url)
        if migrate:
            _database_step(lambda: upgrade(settings.database_url))
        frontdesk = _database_step(lambda: build(settings))
    except ConfigurationError as exc:
        for sock in sockets.values():
            sock.close()
        raise _refuse(exc) from exc
    except BaseException:
        for sock in sockets.values():
            sock.close()
        raise
    from bot.http import HttpServer, MetricsServer

    metrics: MetricsServer | None = None
    server: HttpServer | None = None
    if "metrics" in sockets:
        metrics = MetricsServer(
            frontdesk, token=settings.metrics_token.get_secret_value(), sock=sockets["metrics"]
        )
    if "http" in sockets:
        server = HttpServer(frontdesk, threads=settings.http_threads, sock=sockets["http"])
    if (
        metrics is not None
        and settings.metrics_host not in ("127.0.0.1", "localhost", "::1")
        and not settings.metrics_token.get_secret_value()
    ):
        logging.getLogger("frontdesk").warning(
            "metrics listen beyond loopback without FRONTDESK_METRICS_TOKEN",
            extra={"host": settings.metrics_host},
        )
    frontdesk.start()  # the vendor worker and the notifier (unless set to no threads)
    threading.Thread(
        target=frontdesk.check_channels, name="frontdesk-channel-check", daemon=True
    ).start()
    try:
        if metrics is not None:
            metrics.start()
            typer.echo(f"frontdesk: metrics on {metrics.url}/metrics")
        if server is None:
            from slack_bolt.adapter.socket_mode import SocketModeHandler

            typer.echo("frontdesk: Socket Mode")
            SocketModeHandler(frontdesk.app, app_token).start()
        else:
            typer.echo(f"frontdesk: HTTP on {server.url}/slack/events")
            if frontdesk.guest_resets is not None:
                typer.echo(f"frontdesk: guest reset page on {server.url}{settings.guest_page_path}")
            running = server
            signal.signal(signal.SIGTERM, lambda *_: running.stop())
            server.serve_forever()
    finally:
        if metrics is not None:
            metrics.stop()
        frontdesk.close()


def _listeners(settings: Settings, *, http: bool) -> dict[str, socket.socket]:
    """The metrics and (HTTP mode) Slack listeners' sockets, bound before the database
    is touched; a host that does not resolve, an address in use or too few descriptors
    refuse to start naming the setting to fix."""
    from bot.http import ensure_descriptors, listen_socket

    wanted = {"metrics": ("FRONTDESK_METRICS", settings.metrics_host, settings.metrics_port)}
    if not settings.metrics_port:
        wanted.clear()  # 0 turns the metrics listener off
    if http:
        wanted["http"] = ("FRONTDESK_HTTP", settings.http_host, settings.http_port)
    bound: dict[str, socket.socket] = {}
    problems: list[str] = []
    for name, (prefix, host, port) in wanted.items():
        try:
            bound[name] = listen_socket(host, port)
        except OSError as exc:
            problems.append(
                f"{prefix}_HOST/{prefix}_PORT ({host}:{port}): cannot listen there "
                f"({exc.strerror or exc})"
            )
    if http:
        try:
            ensure_descriptors(settings.http_connection_limit)
        except (OSError, ValueError) as exc:
            problems.append(f"environment variable FRONTDESK_HTTP_CONNECTION_LIMIT: {exc}")
    if problems:
        for sock in bound.values():
            sock.close()
        raise _refuse(ConfigurationError("\n".join(problems)))
    return bound


def _database_step(step: Callable[[], T]) -> T:
    """A step that reaches the database: its failure a ConfigurationError naming it."""
    from sqlalchemy.exc import SQLAlchemyError

    try:
        return step()
    except SQLAlchemyError as exc:
        detail = str(getattr(exc, "orig", None) or exc).strip().splitlines()
        raise ConfigurationError(
            "environment variable FRONTDESK_DATABASE_URL: the database refused "
            f"({detail[0] if detail else type(exc).__name__})"
        ) from None


@app.command()
def keygen() -> None:
    """Print a new key for FRONTDESK_PAYMENT_TOKEN_KEYS (payment tokens at rest).

    To rotate: put the new key first, the old one after a comma, restart, then
    `frontdesk keys rotate`; remove the old key once `frontdesk keys check` agrees.
    The same kind of key serves FRONTDESK_GUEST_CODE_KEYS (keep an old one there as
    long as the codes made with it live).
    """
    from bot.workflows.vault import TokenVault

    typer.echo(TokenVault.new_key())


def _vault_and_db() -> tuple[TokenVault, Database]:
    from bot.workflows.vault import TokenVault
    from storage.db import Database

    settings = _settings()
    try:
        vault = TokenVault(settings.payment_token_keys.get_secret_value())
    except ConfigurationError as exc:
        typer.echo(f"configuration error: {exc}", err=True)
        raise typer.Exit(2) from exc
    return vault, Database(settings.database_url)


def _key_use_verdict(use: KeyUse) -> int:
    """Print which keys the sealed values need; 0 when only the newest one is."""
    for index, count in enumerate(use.by_key):
        name = "key 1 (newest)" if index == 0 else f"key {index + 1}"
        typer.echo(f"{name}: {count} sealed payment token sets")
    if use.unreadable:
        typer.echo(
            f"{use.unreadable} sealed payment token sets open with none of these keys: "
            "a process seals with a key missing here, or a key was removed too early "
            "(put it back, then `frontdesk keys rotate`)."
        )
    if use.older:
        typer.echo(
            f"{use.older} still need an older key: run `frontdesk keys rotate` before removing it."
        )
    if use.retirable:
        typer.echo(
            "no sealed value needs an older key: remove every key but the first from "
            "FRONTDESK_PAYMENT_TOKEN_KEYS and destroy them."
            if len(use.by_key) > 1
            else "every sealed value opens with the one configured key."
        )
        return 0
    return 1


@keys_app.command("rotate")
def keys_rotate() -> None:
    """Re-seal every payment token still held under the first (newest) key of
    FRONTDESK_PAYMENT_TOKEN_KEYS, scrub the old ciphertexts from the database files,
    then check as `keys check` does (exit 0 when the older keys can be removed).

    One compare-and-set per sale: a sale that ends or changes meanwhile keeps its
    new state. Safe to run while `serve` runs, and to run again.
    """
    from bot.clock import SystemClock
    from bot.workflows.vault import key_use, rotate
    from storage.scrub import Scrubber

    vault, db = _vault_and_db()
    try:
        report = rotate(db, vault, SystemClock())
        scrubbed = Scrubber(db).scrub()
        typer.echo(
            f"re-sealed {report.resealed}, already under the newest key {report.current}, "
            f"ended meanwhile {report.ended}, unreadable {report.unreadable}"
        )
        typer.echo(f"database files: {scrubbed.detail}")
        code = _key_use_verdict(key_use(db, vault))
    finally:
        db.dispose()
    raise typer.Exit(code)


@keys_app.command("check")
def keys_check() -> None:
    """Count the sealed payment tokens by the key of FRONTDESK_PAYMENT_TOKEN_KEYS that
    opens them; exit 0 only when none needs a key but the first (newest)."""
    from bot.workflows.vault import key_use

    vault, db = _vault_and_db()
    try:
        code = _key_use_verdict(key_use(db, vault))
    finally:
        db.dispose()
    raise typer.Exit(code)


@app.command()
def sandbox(
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1.")] = 8099,
) -> None:
    """Serve the local vendor stand-ins (ClubReady, Registrar, Paytronix)."""
    from vendors.sandbox import Sandbox

    server = Sandbox(port=port)
    for vendor in Sandbox.MOUNTS:
        typer.echo(f"{vendor:10} {server.base_url(vendor)}")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


@app.command()
def demo(
    directory: Annotated[Path, typer.Option(help="Where the demo database is left.")] = Path(
        "demo-data"
    ),
) -> None:
    """Play the stories through the real app, against local vendors and a local Slack."""
    from bot.devtools.demo import run

    sys.exit(run(directory))


@app.command()
def manifest(
    url: Annotated[str, typer.Option(help="Where `frontdesk serve` is reachable: https://host")],
    output: Annotated[
        Path | None, typer.Option(help="Write the manifest here (default: print it).")
    ] = None,
) -> None:
    """The Slack app manifest with every request URL at URL (the one place to set it)."""
    from bot.manifest import manifest_for

    try:
        text = manifest_for(url)
    except ValueError as exc:
        typer.echo(f"frontdesk manifest: {exc}", err=True)
        raise typer.Exit(2) from None
    except OSError as exc:  # an install without its package data
        typer.echo(f"frontdesk manifest: cannot read the app's manifest ({exc})", err=True)
        raise typer.Exit(1) from None
    if output is None:
        typer.echo(text, nl=False)
        return
    output.write_text(text)
    typer.echo(f"wrote {output}: paste it at api.slack.com/apps → your app → App Manifest")


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply every migration to FRONTDESK_DATABASE_URL."""
    from storage.db import upgrade

    settings = _settings()
    upgrade(settings.database_url)
    typer.echo("database is up to date")


def _roles() -> tuple[Database, Roles]:
    """The database, its schema brought up to date first (the setup checklist grants the
    first admin before the first `serve`, which would migrate), and the roles."""
    from bot.clock import SystemClock
    from bot.workflows.roles import Roles
    from storage.db import Database, upgrade

    settings = _settings()
    try:
        _database_step(lambda: upgrade(settings.database_url))
    except ConfigurationError as exc:
        raise _refuse(exc) from exc
    return Database(settings.database_url), Roles(clock=SystemClock())


def _unusable(what: str) -> typer.Exit:
    typer.echo(f"frontdesk roles: {what}", err=True)
    return typer.Exit(2)


def _person(user: str, team: str) -> Actor:
    """The person a grant is for: a member id (U…/W…) of a workspace (T…) or, on
    Enterprise Grid, of the organization (E…)."""
    from bot.workflows.roles import Actor

    user, team = user.strip(), team.strip()
    if not re.fullmatch(r"[UW][A-Z0-9]+", user):
        raise _unusable(
            f"{user!r} is not a Slack member id (U… or W…): in Slack, click their "
            "name or picture → Profile → ⋮ → Copy member ID"
        )
    if not re.fullmatch(r"[TE][A-Z0-9]+", team):
        raise _unusable(
            f"{team!r} is not a Slack team id (T…, or E… on Enterprise Grid): see the "
            "README's setup checklist, step 3"
        )
    enterprise = team if team.startswith("E") else ""
    return Actor(team_id=team, user_id=user, enterprise_id=enterprise)


def _role(text: str) -> Role:
    """A role as typed (``front_desk``, ``front desk``, ``Front-Desk``)."""
    from bot.workflows.roles import Role

    key = re.sub(r"[\s-]+", "_", text.strip().lower())
    try:
        return Role(key)
    except ValueError:
        names = ", ".join(role.value for role in Role)
        raise _unusable(f"{text!r} is not a role: give one of {names}") from None


def _location(location: str | None) -> str | None:
    """A location id of the locations file, when one is given (None: all)."""
    if location is None:
        return None
    settings = _settings()
    try:
        known = settings.load_locations()
    except ConfigurationError as exc:
        raise _refuse(exc) from exc
    if location not in known:
        ids = ", ".join(sorted(known)) or "none"
        raise _unusable(
            f"no location {location!r} in {settings.locations_file} (its ids: {ids}); "
            "omit --location for all locations"
        )
    return location


TEAM_HELP = "Slack team id (T…), or on Enterprise Grid the organization's id (E…)."


@roles_app.command("grant")
def roles_grant(
    user: Annotated[str, typer.Argument(help="Slack member id, e.g. U012ABC.")],
    role: Annotated[str, typer.Argument(help="front_desk, manager, support or admin.")],
    team: Annotated[str, typer.Option(help=TEAM_HELP)],
    location: Annotated[str | None, typer.Option(help="Location id; omit for all.")] = None,
) -> None:
    """Grant a role (this is also how the first admin is bootstrapped)."""
    target, granted, where = _person(user, team), _role(role), _location(location)
    db, roles = _roles()
    with db.session() as session:
        added = roles.grant(session, by="cli", target=target, role=granted, location_id=where)
    typer.echo("granted" if added else "already granted")


@roles_app.command("revoke")
def roles_revoke(
    user: Annotated[str, typer.Argument(help="Slack member id, e.g. U012ABC.")],
    role: Annotated[str, typer.Argument(help="front_desk, manager, support or admin.")],
    team: Annotated[str, typer.Option(help=TEAM_HELP)],
    location: Annotated[str | None, typer.Option(help="Location id; omit for all.")] = None,
) -> None:
    """Revoke a role."""
    target, revoked = _person(user, team), _role(role)
    db, roles = _roles()
    with db.session() as session:
        removed = roles.revoke(session, by="cli", target=target, role=revoked, location_id=location)
    typer.echo("revoked" if removed else "no such grant")


@roles_app.command("list")
def roles_list() -> None:
    """List every grant."""
    db, roles = _roles()
    with db.session() as session:
        for grant in roles.list(session):
            where = grant.location_id or "all locations"
            typer.echo(f"{grant.team_id}:{grant.user_id}\t{grant.role}\t{where}")


@audit_app.command("export")
def audit_export(
    since: Annotated[datetime, typer.Option(help="From this moment (ISO date or date-time, UTC).")],
    until: Annotated[datetime | None, typer.Option(help="Up to this moment.")] = None,
    format: Annotated[  # noqa: A002 - the option's name
        str, typer.Option("--format", help="csv or json (one object per line).")
    ] = "csv",
    output: Annotated[Path | None, typer.Option(help="A file; standard output if omitted.")] = None,
) -> None:
    """Export the audit trail: who did what, when (admins)."""
    from bot.workflows.retention import export_audit
    from storage.db import Database

    if format not in ("csv", "json"):
        typer.echo("--format is csv or json", err=True)
        raise typer.Exit(2)
    db = Database(_settings().database_url)
    try:
        text = export_audit(
            db,
            since=_utc(since),
            until=_utc(until) if until else None,
            fmt=format,  # type: ignore[arg-type]
        )
    finally:
        db.dispose()
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.write_text(text)
        typer.echo(f"wrote {output}", err=True)


@app.command()
def purge(
    days: Annotated[
        int | None, typer.Option(help="Retention in days (default FRONTDESK_RETENTION_DAYS).")
    ] = None,
) -> None:
    """Purge member data older than the retention period; the audit trail stays, without it.

    ``frontdesk serve`` also does this once a day.
    """
    from bot.clock import SystemClock
    from bot.workflows.retention import purge as run_purge
    from storage.db import Database

    settings = _settings()
    db = Database(settings.database_url)
    try:
        report = run_purge(db, SystemClock(), days if days is not None else settings.retention_days)
    finally:
        db.dispose()
    typer.echo(
        f"purged member data older than {report.cutoff.isoformat(timespec='seconds')}: "
        f"{report.resets} resets, {report.sales} sales, {report.vendor_attempts} vendor "
        f"exchanges, {report.audit_events} audit events"
    )


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
