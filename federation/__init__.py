"""Solidarity federation: coalitions publish actions, peers pull them, members subscribe."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from flask import Flask


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build an application; `config` overrides settings read from FEDERATION_* variables."""
    from federation import api, cli, db, feeds, headers, pages, privacy, protocol
    from federation.config import load_settings
    from federation.services import changes

    app = Flask(__name__, instance_relative_config=True)
    app.config.from_mapping(load_settings(app.instance_path, config))
    os.makedirs(app.instance_path, exist_ok=True)
    database = db.init_app(app)
    changes.install(database.sessionmaker)
    protocol.init_app(app, database.sessionmaker)
    api.init_app(app)
    feeds.init_app(app)
    pages.init_app(app)
    headers.init_app(app)
    cli.init_app(app)
    privacy.install()
    return app
