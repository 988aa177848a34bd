"""The schema comes from Alembic, and the migrations describe exactly what the models say."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import insert, inspect, select

from federation import create_app
from federation.db import Base, get_database, get_session, make_engine
from federation.migrate import alembic_config
from federation.models import FederationObject, Peer
from federation.services.auth import mint_token

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


def test_upgrading_to_removed_peers_merges_default_ports_and_makes_orphans_purgeable(
    fresh_database_url: Callable[[], str], tmp_path: Path
):
    url = fresh_database_url()
    config = alembic_config(url)
    command.upgrade(config, "0004")
    peers, log = Peer.__table__, FederationObject.__table__
    ids = {name: uuid.uuid4() for name in ("a443", "a", "c443")}
    objects = {name: uuid.uuid4() for name in ("of_a443", "orphan_gone", "orphan_c", "ours")}
    now = dt.datetime.now(dt.UTC)
    engine = make_engine(url)
    try:
        with engine.begin() as connection:
            for name, peer_url in [
                ("a443", "https://a.example:443"),
                ("a", "https://a.example"),
                ("c443", "https://c.example:443"),
            ]:
                connection.execute(insert(peers).values(id=ids[name], url=peer_url))
            rows = [
                ("of_a443", "https://a.example", ids["a443"], now),
                # Brought by peers deleted before this release: unlinked, but listed.
                ("orphan_gone", "https://gone.example", None, now),
                ("orphan_c", "https://c.example", None, now),
                ("ours", "http://127.0.0.1:5000", None, None),
            ]
            for position, (name, origin, peer_id, listed_at) in enumerate(rows, start=1):
                connection.execute(
                    insert(log).values(
                        id=objects[name],
                        type="Poll",
                        origin=origin,
                        version=1,
                        position=position,
                        envelope=b"{}",
                        peer_id=peer_id,
                        listed_at=listed_at,
                    )
                )
        command.upgrade(config, "head")
        with engine.connect() as connection:
            by_url = {row.url: row for row in connection.execute(select(peers))}
            brought_by = dict(connection.execute(select(log.c.id, log.c.peer_id)).all())
    finally:
        engine.dispose()

    assert set(by_url) == {"https://a.example", "https://c.example", "https://gone.example"}
    assert by_url["https://a.example"].id == ids["a"]
    assert by_url["https://c.example"].id == ids["c443"]
    assert by_url["https://c.example"].removed_at is None
    gone = by_url["https://gone.example"]
    assert gone.removed_at is not None
    assert gone.enabled is False
    assert brought_by == {
        objects["of_a443"]: ids["a"],
        objects["orphan_gone"]: gone.id,
        objects["orphan_c"]: ids["c443"],
        objects["ours"]: None,
    }

    # An admin sees the orphans' removed peer and purges them like any peer's objects.
    app = create_app(
        {"FEDERATION_DATABASE_URL": url, "FEDERATION_KEY_PATH": str(tmp_path / "keys.json")}
    )
    try:
        with app.app_context():
            session = get_session()
            headers = {"Authorization": f"Bearer {mint_token(session).token}"}
            session.commit()
        client = app.test_client()
        listed = client.get("/api/v1/peers", headers=headers).json["items"]
        removed = [peer for peer in listed if peer["removed_at"]]
        assert [peer["url"] for peer in removed] == ["https://gone.example"]
        purge = client.delete(f"/api/v1/peers/{removed[0]['id']}?purge=true", headers=headers)
        assert purge.status_code == 204
        with app.app_context():
            left = set(get_session().scalars(select(FederationObject.id)))
        assert left == {objects["of_a443"], objects["orphan_c"], objects["ours"]}
    finally:
        get_database(app).engine.dispose()
