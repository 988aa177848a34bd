"""Flask CLI commands: database migrations, admin tokens, the demo dataset and federation."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import signal
import sys
import uuid
from collections.abc import Mapping

import click
from flask import Flask, current_app
from flask.cli import AppGroup, with_appcontext

from federation import migrate
from federation.db import get_database, get_session
from federation.services import auth as auth_service
from federation.services import cleanup, occurrences, outbox
from federation.services import protocol as protocol_service

db_cli = AppGroup("db", help="Database schema (Alembic migrations).")


@db_cli.command("upgrade")
@click.argument("revision", default="head")
def db_upgrade(revision: str) -> None:
    """Apply migrations to the configured database (default: all of them)."""
    migrate.upgrade(current_app.config["FEDERATION_DATABASE_URL"], revision)
    click.echo(f"database at {revision}", err=True)
    if revision == "head":
        # Migrations cannot render or sign (they never see the key): text stored before the
        # text policy is cleaned here, into new versions, and what is not logged yet is logged.
        session = get_session()
        _report_cleaned(cleanup.clean_stored_text(session))
        session.commit()
        logged = outbox.publish_unlogged(session)
        session.commit()
        if logged:
            click.echo(f"federation log: {logged} objects published", err=True)
        # Migrations cannot expand rules either: index what is not indexed yet.
        indexed = occurrences.keep_index(get_database().sessionmaker)
        if indexed:
            click.echo(f"occurrence index: {indexed} actions indexed", err=True)


@db_cli.command("clean-text")
def db_clean_text() -> None:
    """Bring stored text under the text policy (also part of `db upgrade`).

    Control characters in single-line fields, CR and CRLF in multi-line ones and NUL, stored
    by versions before the policy: our own objects become new versions, re-signed for peers.
    """
    session = get_session()
    cleaned = cleanup.clean_stored_text(session)
    session.commit()
    _report_cleaned(cleaned)
    if not cleaned:
        click.echo("text: nothing to clean", err=True)


def _report_cleaned(cleaned: Mapping[str, int]) -> None:
    if cleaned:
        counts = ", ".join(f"{n} {name}" for name, n in sorted(cleaned.items()))
        click.echo(f"text cleaned under the text policy: {counts}", err=True)


@click.command("create-admin-token")
@click.option("--label", default="", help="A note to recognise the token by.")
@with_appcontext
def create_admin_token(label: str) -> None:
    """Mint an instance-admin token and print only the token."""
    session = get_session()
    minted = auth_service.mint_token(session, label=label)
    session.commit()
    click.echo(minted.token)


@click.command("revoke-token")
@click.argument("token_id", type=click.UUID)
@with_appcontext
def revoke_token(token_id: uuid.UUID) -> None:
    """Revoke a token by its id (as listed by the API)."""
    session = get_session()
    admin = auth_service.Actor(token_id=token_id, coalition_id=None)
    auth_service.revoke_token(session, admin, token_id)
    session.commit()
    click.echo(f"revoked {token_id}", err=True)


@click.command("load-demo")
@with_appcontext
def load_demo() -> None:
    """Load the demo dataset (three cities, a day of action) unless data is already there."""
    from federation.demo import load_demo_data

    session = get_session()
    loaded = load_demo_data(session, origin=current_app.config["FEDERATION_BASE_URL"])
    session.commit()
    click.echo("demo data loaded" if loaded else "data already present; demo not loaded", err=True)


federation_cli = AppGroup(
    "federation", help="The federation protocol: syncing from peers, keys, epochs, tombstones."
)


@federation_cli.command("rotate-key")
def rotate_key() -> None:
    """Add a new active signing key; older keys stay published as retired.

    Restart the service afterwards: running processes keep signing with the key they loaded.
    """
    from federation.protocol import get_keyring

    key = get_keyring().rotate()
    click.echo(key.key_id(current_app.config["FEDERATION_BASE_URL"]))


@federation_cli.command("new-epoch")
def new_epoch() -> None:
    """Refuse every peer's cursor so that peers resync; run after restoring a backup."""
    session = get_session()
    epoch = protocol_service.new_epoch(session)
    session.commit()
    click.echo(f"federation epoch is now {epoch}; peers will resync from a snapshot", err=True)


@federation_cli.command("purge-tombstones")
@click.option(
    "--days",
    type=click.IntRange(min=0),
    default=None,
    help="Purge tombstones older than this (default: FEDERATION_TOMBSTONE_DAYS).",
)
def purge_tombstones(days: int | None) -> None:
    """Forget old tombstones; peers whose cursor is older must resync."""
    config = current_app.config
    if days is None:
        days = int(config["FEDERATION_TOMBSTONE_DAYS"])
    session = get_session()
    result = protocol_service.purge_tombstones(
        session,
        older_than=dt.datetime.now(dt.UTC) - dt.timedelta(days=days),
        origin=config["FEDERATION_BASE_URL"],
    )
    session.commit()
    click.echo(f"purged {result.purged} tombstones; horizon at {result.horizon}", err=True)


@federation_cli.command("index-occurrences")
def index_occurrences() -> None:
    """Index the occurrences of every action a year ahead (the sync worker does it each
    round; run it from cron where no worker runs)."""
    indexed = occurrences.keep_index(get_database().sessionmaker)
    click.echo(f"occurrence index: {indexed} actions extended", err=True)


@federation_cli.command("sync")
@click.option("--loop", is_flag=True, help="Keep polling, with jitter and per-peer backoff.")
@click.option(
    "--interval",
    type=click.FloatRange(min=1),
    default=None,
    help="Seconds between rounds with --loop (default: FEDERATION_SYNC_INTERVAL).",
)
def sync(loop: bool, interval: float | None) -> None:
    """Pull from every enabled peer: one round, or rounds forever with --loop.

    One round exits with status 1 if any peer failed. Several workers may run at once.
    """
    from federation.sync import settings_from_config
    from federation.sync.checks import worker_envelope_checker
    from federation.sync.worker import RoundSummary, run_loop, sync_all

    factory = get_database().sessionmaker
    # Envelopes are checked in a helper process, on another core, while pages are applied.
    checker = worker_envelope_checker()
    settings = dataclasses.replace(settings_from_config(current_app.config), checker=checker)

    def report(summary: RoundSummary) -> None:
        click.echo(summary.line())

    try:
        if loop:
            stopping: list[bool] = []
            # SIGTERM (systemd, docker stop) ends the loop between rounds; a page being applied
            # commits or rolls back as a whole either way.
            signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
            period = interval or float(current_app.config["FEDERATION_SYNC_INTERVAL"])
            with contextlib.suppress(KeyboardInterrupt):
                run_loop(
                    factory, settings, interval=period, report=report, stop=lambda: bool(stopping)
                )
            return
        summaries = sync_all(factory, settings)
    finally:
        checker.close()
    for summary in summaries:
        report(summary)
    if not summaries:
        click.echo("no enabled peers", err=True)
    if any(not summary.ok for summary in summaries):
        sys.exit(1)


def init_app(app: Flask) -> None:
    app.cli.add_command(db_cli)
    app.cli.add_command(federation_cli)
    for command in (create_admin_token, revoke_token, load_demo):
        app.cli.add_command(command)
