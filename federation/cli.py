"""Flask CLI commands: database migrations, admin tokens and the demo dataset."""

from __future__ import annotations

import uuid

import click
from flask import Flask, current_app
from flask.cli import AppGroup, with_appcontext

from federation import migrate
from federation.db import get_session
from federation.services import auth as auth_service

db_cli = AppGroup("db", help="Database schema (Alembic migrations).")


@db_cli.command("upgrade")
@click.argument("revision", default="head")
def db_upgrade(revision: str) -> None:
    """Apply migrations to the configured database (default: all of them)."""
    migrate.upgrade(current_app.config["FEDERATION_DATABASE_URL"], revision)
    click.echo(f"database at {revision}", err=True)


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


def init_app(app: Flask) -> None:
    app.cli.add_command(db_cli)
    for command in (create_admin_token, revoke_token, load_demo):
        app.cli.add_command(command)
