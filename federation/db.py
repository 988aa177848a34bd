"""Engine, sessions and the declarative base; per-app state lives in app.extensions."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from flask import Flask, current_app, g, has_request_context, request
from sqlalchemy import Connection, DateTime, Engine, MetaData, create_engine, event
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

EXTENSION_KEY = "federation.db"
# An execution option: transactions on a connection that carries it are for writing, and on
# SQLite take the database's write lock when they begin (see make_engine, writing_session).
WRITES = "federation_writes"
# Requests with these methods only read: their sessions never take SQLite's write lock.
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

# Stable constraint names, so Alembic can alter and drop them on both backends.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """An aware datetime stored in UTC; naive values are a bug and are refused.

    SQLite keeps no offset, so values are stored as naive UTC there and made aware again on
    the way out; PostgreSQL gets a timestamptz.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value!r} cannot be stored")
        value = value.astimezone(dt.UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        assert isinstance(value, dt.datetime)
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


def _lower(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine; SQLite gets real transactions, foreign keys and a busy timeout."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30}, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
            # pysqlite's own transaction handling never emits BEGIN before a SAVEPOINT and
            # commits behind our back around DDL; take control of BEGIN ourselves.
            dbapi_connection.isolation_level = None
            # SQLite's lower() folds ASCII only: "ACCIÓN" would not find "Acción" as it does on
            # PostgreSQL. Python's folds every script our members write in.
            dbapi_connection.create_function("lower", 1, _lower, deterministic=True)
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(connection: Connection) -> None:
            # A plain (deferred) BEGIN takes the write lock at the first write; if another
            # writer committed after this transaction first read, SQLite refuses at once with
            # "database is locked", whatever the busy timeout. A transaction that will write
            # takes the lock at BEGIN instead, waiting its turn; readers never take it (WAL
            # lets them read beside the writer).
            if connection.get_execution_options().get(WRITES):
                connection.exec_driver_sql("BEGIN IMMEDIATE")
            else:
                connection.exec_driver_sql("BEGIN")

        return engine
    return create_engine(url, pool_pre_ping=True, **kwargs)


@dataclass
class Database:
    engine: Engine
    sessionmaker: sessionmaker[Session]


def init_app(app: Flask) -> Database:
    """Attach a Database to the app and close the request's session at teardown."""
    engine = make_engine(app.config["FEDERATION_DATABASE_URL"])
    database = Database(engine=engine, sessionmaker=sessionmaker(engine, expire_on_commit=False))
    app.extensions[EXTENSION_KEY] = database

    @app.teardown_appcontext
    def _close_session(_exc: BaseException | None) -> None:
        session: Session | None = g.pop("federation_session", None)
        if session is not None:
            # Anything not committed by the view is rolled back: no half-written change.
            session.close()

    return database


def get_database(app: Flask | None = None) -> Database:
    database: Database = (app or current_app).extensions[EXTENSION_KEY]
    return database


def writing_session(factory: sessionmaker[Session]) -> Session:
    """A session of `factory` whose transactions are for writing: on SQLite, each one takes the
    write lock at BEGIN (BEGIN IMMEDIATE), so it waits its turn instead of failing."""
    bind = factory.kw.get("bind")
    if isinstance(bind, Engine):
        return factory(bind=bind.execution_options(**{WRITES: True}))
    # Bound to a connection whose transaction its owner began (the tests' outer transaction):
    # the session only adds SAVEPOINTs to it.
    return factory()


def get_session() -> Session:
    """The session of the current request (or CLI command), opened on first use.

    A request that may write (any method but GET, HEAD and OPTIONS) and a CLI command get a
    writing session (see writing_session); a reading request does not, so readers never
    queue behind the writer.
    """
    session: Session | None = g.get("federation_session")
    if session is None:
        factory = get_database().sessionmaker
        if has_request_context() and request.method in READ_METHODS:
            session = factory()
        else:
            session = writing_session(factory)
        g.federation_session = session
    return session
