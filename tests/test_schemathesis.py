"""Property-based contract test: schemathesis drives every operation of openapi.yaml against the
app (with demo data and an admin token) and checks that no request makes a server error and that
every response matches the spec: status code, content type, headers and body schema."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from federation.db import get_session
from federation.demo import load_demo_data
from federation.models import Campaign, Event

SPEC = Path(__file__).resolve().parents[1] / "openapi.yaml"
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


@pytest.fixture
def demo_ids(app: Flask) -> dict[str, str]:
    """Load the demo dataset; return ids that make generated paths hit real objects."""
    with app.app_context():
        session = get_session()
        load_demo_data(session, origin=app.config["FEDERATION_BASE_URL"])
        session.commit()
        campaign = session.query(Campaign).one()
        event = session.query(Event).order_by(Event.starts_at).first()
        assert event is not None
        return {
            "slug": "minneapolis",
            "campaign_id": str(campaign.id),
            "event_id": str(event.id),
            "endorsement_id": str(campaign.endorsements[0].id),
        }


schema = schemathesis.openapi.from_path(SPEC)


@schema.parametrize()
@settings(
    max_examples=100,
    deadline=None,
    # The app and its transaction are shared by all examples of one operation, on purpose.
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
        HealthCheck.function_scoped_fixture,
    ],
)
def test_api_honours_its_spec(
    case: Any, app: Flask, admin: dict[str, str], demo_ids: dict[str, str]
):
    # As generated (random ids mostly miss), then aimed at real demo objects so that the
    # success paths of every operation, writes included, are exercised too.
    case.call_and_validate(app=app, headers=admin, checks=CHECKS)
    if case.path_parameters:
        case.path_parameters = {
            name: demo_ids.get(name, value) for name, value in case.path_parameters.items()
        }
        case.call_and_validate(app=app, headers=admin, checks=CHECKS)
