"""The README tells the truth: its examples run, its required fields are the schemas', and
every file it points to is in the repository."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable

from marshmallow import Schema
from servers import BIN, ROOT, environment, flask, free_port, gunicorn

from schemas.campaigns import CampaignSchema, EndorsementSchema
from schemas.coalitions import CoalitionSchema
from schemas.events import EventSchema
from schemas.peers import PeerSchema

README = (ROOT / "README.md").read_text()
EXAMPLE_ORIGIN = "http://127.0.0.1:5000"
# What each example URL creates.
CREATES: dict[str, type[Schema]] = {
    r"/api/v1/coalitions": CoalitionSchema,
    r"/api/v1/coalitions/[^/]+/events": EventSchema,
    r"/api/v1/campaigns": CampaignSchema,
    r"/api/v1/campaigns/[^/]+/endorsements": EndorsementSchema,
    r"/api/v1/peers": PeerSchema,
}


def _shell_examples() -> str:
    """The README's shell blocks that call the API, in order, as one script."""
    blocks = re.findall(r"```sh\n(.*?)```", README, re.S)
    return "\n".join(block for block in blocks if "curl " in block)


def _curl_calls(script: str) -> list[str]:
    joined = script.replace("\\\n", " ")
    return [call for call in re.split(r"(?=\bcurl )", joined) if call.startswith("curl ")]


def _required(schema: type[Schema]) -> set[str]:
    return {
        field.data_key or name for name, field in schema().load_fields.items() if field.required
    }


def test_every_create_example_names_every_required_field():
    seen: set[type[Schema]] = set()
    for call in _curl_calls(_shell_examples()):
        if "-X POST" not in call:
            continue
        path = re.search(re.escape(EXAMPLE_ORIGIN) + r"([^\s'\"?]*)", call)
        assert path, call
        body = re.search(r"-d '(\{.*?\})'", call, re.S)
        assert body, call
        schema = next(s for p, s in CREATES.items() if re.fullmatch(p, path.group(1)))
        missing = _required(schema) - set(json.loads(body.group(1)))
        assert not missing, (path.group(1), missing)
        seen.add(schema)
    # Each kind of thing a newcomer creates first has an example, a coalition's city_slug too.
    assert seen == set(CREATES.values())
    assert "city_slug" in _required(CoalitionSchema)


def test_the_curl_examples_succeed_against_a_served_instance(
    fresh_database_url: Callable[[], str],
):
    # As `make run` serves it: migrated, demo data loaded; gunicorn instead of `flask run`.
    url = fresh_database_url()
    port = free_port()
    env = environment(url, f"http://127.0.0.1:{port}")
    for command in (["db", "upgrade"], ["load-demo"]):
        done = flask(env, *command)
        assert done.returncode == 0, done.stderr
    script = _shell_examples().replace(EXAMPLE_ORIGIN, f"http://127.0.0.1:{port}")
    script = script.replace(".venv/bin/", f"{BIN}/")
    # Every call must answer 2xx (--fail-with-body), and says which status it got on stderr.
    wrapper = (
        "set -euo pipefail\n"
        "curl() { command curl --silent --show-error --fail-with-body "
        "--write-out '%{stderr}status %{http_code}\\n' \"$@\"; }\n"
    )
    with gunicorn(env, port):
        done = subprocess.run(
            ["bash", "-c", wrapper + script],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    assert done.returncode == 0, (done.stdout, done.stderr)
    statuses = re.findall(r"^status (\d{3})$", done.stderr, re.M)
    assert len(statuses) == len(_curl_calls(_shell_examples())), done.stderr
    assert all(status.startswith("2") for status in statuses), statuses


# Paths the README may name that are not in the repository: made by running it, or the system's.
NOT_IN_THE_REPOSITORY = ("instance/", ".venv/", "test-output/")
FILE_LIKE = re.compile(r"[\w.-]+(/[\w.-]+)+/?|[\w.-]+\.(md|py|yaml|toml|ini)")


def test_readme_points_only_to_files_inside_the_repository():
    links = re.findall(r"\]\(([^)#\s]+)\)", README)
    quoted = re.findall(r"`([^`\s]+)`", README)
    for target in links:
        if re.match(r"[a-z]+://", target):
            continue
        assert (ROOT / target).resolve().is_relative_to(ROOT), target
        assert (ROOT / target).exists(), target
    for text in quoted:
        assert not text.startswith(("../", "~")), text
        assert "/work/" not in text, text
        assert "shared/design" not in text, text
        if FILE_LIKE.fullmatch(text) and not text.startswith(NOT_IN_THE_REPOSITORY):
            assert (ROOT / text).exists(), text
    assert "docs/ical-checklist.md" in links
