"""The federation pull protocol's routes: discovery, changes, snapshot and objects.

A plain blueprint rather than part of the OpenAPI document: its contract is docs/federation.md,
and its bodies are stored signed bytes, sent as they are.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from typing import Any

from flask import Blueprint, Flask, Response, current_app, request
from marshmallow import Schema, ValidationError
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.http import HTTP_STATUS_CODES

from federation.db import get_session
from federation.keys import KeyRing
from federation.services import outbox
from federation.services import protocol as service
from federation.services.errors import InvalidInput
from schemas.federation import ChangesArgsSchema, SnapshotArgsSchema

bp = Blueprint("federation_protocol", __name__)
KEYRING_KEY = "federation.keys"
JSON = "application/json"


def init_app(app: Flask, factory: sessionmaker[Session]) -> KeyRing:
    """Load (or create) the signing keys, sign local changes with them, serve the routes."""
    keyring = KeyRing.open(app.config["FEDERATION_KEY_PATH"])
    app.extensions[KEYRING_KEY] = keyring
    origin = app.config["FEDERATION_BASE_URL"]
    active = keyring.active
    outbox.install(factory, outbox.Publisher(origin, active.private_key, active.key_id(origin)))
    app.register_blueprint(bp)
    return keyring


def get_keyring(app: Flask | None = None) -> KeyRing:
    keyring: KeyRing = (app or current_app).extensions[KEYRING_KEY]
    return keyring


def _args(schema: Schema) -> dict[str, Any]:
    try:
        args: dict[str, Any] = schema.load(request.args.to_dict(flat=True))
    except ValidationError as exc:
        raise InvalidInput("Invalid query arguments.", exc.messages_dict, location="query") from exc
    return args


def _items(items: Iterable[bytes]) -> bytes:
    # Envelopes are concatenated as stored: re-serializing them could change bytes a proof
    # covers (and an unknown field of a relayed object must survive untouched).
    return b"[" + b",".join(items) + b"]"


def _json_response(body: bytes, status: int = 200) -> Response:
    response = Response(body, status=status, content_type=JSON)
    # Federation is server to server; any peer may read, nothing is personal.
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response


@bp.errorhandler(service.CursorGone)
def _cursor_gone(error: service.CursorGone) -> Response:
    body = {
        "code": 410,
        "status": HTTP_STATUS_CODES[410],
        "message": error.message,
        "reason": error.reason,
    }
    return _json_response(json.dumps(body).encode(), 410)


@bp.errorhandler(service.ObjectGone)
def _object_gone(error: service.ObjectGone) -> Response:
    return _json_response(error.envelope, 410)


@bp.get("/.well-known/solidarity-federation")
def discovery() -> Response:
    """Who this instance is, its endpoints, public keys and limits."""
    config = current_app.config
    origin = config["FEDERATION_BASE_URL"]
    document = service.discovery_document(
        origin=origin,
        name=config["FEDERATION_INSTANCE_NAME"],
        public_keys=get_keyring().public_keys(origin),
        tombstone_retention_days=config["FEDERATION_TOMBSTONE_DAYS"],
    )
    response = _json_response(json.dumps(document).encode())
    response.cache_control.public = True
    response.cache_control.max_age = 300
    return response


@bp.get("/federation/v1/changes")
def changes() -> Response:
    """Objects changed after a cursor, oldest change first; 304 when nothing changed."""
    args = _args(ChangesArgsSchema())
    page = service.changes(
        get_session(),
        after=args.get("after"),
        limit=args["limit"],
        known_heads=request.if_none_match.as_set(include_weak=True),
    )
    if page.not_modified:
        response = Response(status=304)
    else:
        tail = {"next": page.next, "up_to_date": page.up_to_date}
        body = b'{"items":' + _items(page.items) + b"," + json.dumps(tail).encode()[1:]
        response = _json_response(body)
    # The head cursor names the state of the whole log: same head, same answer for a URL.
    response.set_etag(page.head)
    response.cache_control.no_cache = True
    return response


@bp.get("/federation/v1/snapshot")
def snapshot() -> Response:
    """Every live object and unexpired tombstone, paged; the last page hands over a cursor."""
    args = _args(SnapshotArgsSchema())
    page = service.snapshot(get_session(), page=args.get("page"), limit=args["limit"])
    tail = {"next_page": page.next_page, "cursor": page.cursor}
    return _json_response(b'{"items":' + _items(page.items) + b"," + json.dumps(tail).encode()[1:])


@bp.get("/federation/v1/objects/<uuid:object_id>")
def federation_object(object_id: uuid.UUID) -> Response:
    """One of this instance's objects, as signed; 410 with its tombstone when deleted."""
    origin = current_app.config["FEDERATION_BASE_URL"]
    return _json_response(service.get_object(get_session(), object_id, origin=origin))
