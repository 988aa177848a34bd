"""The schema comes from Alembic, and the migrations describe exactly what the models say."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from federation.db import Base, make_engine
from federation.migrate import alembic_config

ROOT = Path(__file__).resolve().parents[1]


def _alembic(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "FEDERATION_DATABASE_URL": url}
    return subprocess.run(
        [sys.executable, "-m", "alembic", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _drift(url: str) -> list[object]:
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            return list(compare_metadata(context, Base.metadata))
    finally:
        engine.dispose()


def test_alembic_upgrade_head_builds_the_models_schema(fresh_database_url: Callable[[], str]):
    url = fresh_database_url()
    result = _alembic(url, "upgrade", "head")
    assert result.returncode == 0, result.stderr
    engine = make_engine(url)
    try:
        tables = set(inspect(engine).get_table_names())
    finally:
        engine.dispose()
    assert set(Base.metadata.tables) <= tables
    assert _drift(url) == []


def test_migrations_downgrade_to_nothing_and_back(fresh_database_url: Callable[[], str]):
    url = fresh_database_url()
    config = alembic_config(url)
    command.upgrade(config, "head")
    command.downgrade(config, "base")
    engine = make_engine(url)
    try:
        leftover = set(inspect(engine).get_table_names()) & set(Base.metadata.tables)
    finally:
        engine.dispose()
    assert leftover == set()
    command.upgrade(config, "head")
    assert _drift(url) == []
