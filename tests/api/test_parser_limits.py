"""Parser limits are the client's problem, said with a 4xx: deep JSON, integers Python will not
parse, numbers no float holds, cursors that decode to what no database stores, and a chunked
body past the size limit (against real gunicorn, which is what streams chunked bodies)."""

from __future__ import annotations

import base64
import json
import socket
from collections.abc import Callable
from typing import Any

import pytest
import requests
from conftest import Served, coalition_payload, event_payload
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from federation.api.parsing import MAX_JSON_DEPTH
from federation.config import DEFAULT_MAX_BODY_BYTES

Maker = Callable[..., dict[str, Any]]
EVENTS = "/api/v1/coalitions/minneapolis/events"


def post_raw(client: FlaskClient, url: str, raw: bytes, headers: dict[str, str]) -> TestResponse:
    return client.post(url, data=raw, content_type="application/json", headers=headers)


def bad_request(response: TestResponse) -> str:
    assert response.status_code == 400, response.get_data(as_text=True)
    data = response.json
    assert data is not None
    assert (data["code"], data["status"]) == (400, "Bad Request")
    [message] = data["errors"]["json"]
    return str(message)


def nested(depth: int) -> bytes:
    """A title holding lists nested so that the whole body is `depth` levels deep."""
    inner = depth - 1
    return b'{"title": ' + b"[" * inner + b"]" * inner + b"}"


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 5_000, 100_000])
def test_json_nested_deeper_than_the_limit_is_400(
    client: FlaskClient, admin: dict[str, str], make_coalition: Maker, depth: int
) -> None:
    make_coalition()

    message = bad_request(post_raw(client, EVENTS, nested(depth), admin))

    assert message == f"Invalid JSON body: nested deeper than {MAX_JSON_DEPTH} levels."
    assert client.get("/api/v1/events").json["items"] == []


def test_json_at_the_depth_limit_is_read(
    client: FlaskClient, admin: dict[str, str], make_coalition: Maker
) -> None:
    make_coalition()

    response = post_raw(client, EVENTS, nested(MAX_JSON_DEPTH), admin)

    # Read, and refused for what it says: a title is not a list.
    assert response.status_code == 422
    assert "title" in response.json["errors"]["json"]


@pytest.mark.parametrize("where", ["title", "top level", "a member's kind"])
def test_an_integer_of_thousands_of_digits_is_400(
    client: FlaskClient, admin: dict[str, str], make_coalition: Maker, where: str
) -> None:
    make_coalition()
    huge = "9" * 5_000
    raw = {
        "title": json.dumps(event_payload()).replace('"March on the Capitol"', huge),
        "top level": huge,
        "a member's kind": json.dumps(
            {"member_organizations": [{"name": "A", "kind": "__HUGE__"}]}
        ).replace('"__HUGE__"', huge),
    }[where]

    url = "/api/v1/coalitions/minneapolis" if where == "a member's kind" else EVENTS
    send = client.patch if where == "a member's kind" else client.post
    response = send(url, data=raw.encode(), content_type="application/json", headers=admin)

    assert "Exceeds the limit (4300 digits)" in bad_request(response)
    assert huge not in response.get_data(as_text=True)  # the reason, not the document


@pytest.mark.parametrize(
    "number",
    ["9" * 4_000, "-" + "9" * 400, "1e999", "-1e400", "1" + "0" * 309, "1E+308", "4e-400"],
)
def test_huge_numbers_in_a_coordinate_are_422_not_500(
    client: FlaskClient, admin: dict[str, str], make_coalition: Maker, number: str
) -> None:
    make_coalition()
    raw = json.dumps(event_payload()).replace("44.9553", number).encode()

    response = post_raw(client, EVENTS, raw, admin)

    if number == "4e-400":  # underflows to 0.0: a valid latitude
        assert response.status_code == 201, response.json
        assert response.json["location"]["latitude"] == 0
        return
    assert response.status_code == 422, response.get_data(as_text=True)
    assert "latitude" in response.json["errors"]["json"]["location"]


def cursor(values: Any) -> str:
    raw = json.dumps(values).encode("ascii")  # "\ud800" stays the JSON escape
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.mark.parametrize(
    "values", [["\ud800"], ["\udfff-x"], ["x\x00"], ["a\nb"], ["\u2028"]], ids=repr
)
@pytest.mark.parametrize("url", ["/api/v1/coalitions", "/api/v1/campaigns", "/api/v1/events"])
def test_a_cursor_decoding_to_text_no_field_accepts_is_422(
    client: FlaskClient, make_coalition: Maker, values: list[str], url: str
) -> None:
    make_coalition()
    make_coalition(slug="chicago", city="Chicago", city_slug="chicago")
    if url != "/api/v1/coalitions":  # keys of two or three values: the text where one goes
        values = [*values, "00000000-0000-0000-0000-000000000000"]
        if url == "/api/v1/campaigns":
            values.insert(0, "2027-01-23")

    response = client.get(url, query_string={"cursor": cursor(values)})

    assert response.status_code == 422, response.get_data(as_text=True)
    assert response.json["errors"]["query"] == {"cursor": ["Not a cursor from this API."]}


# --- against gunicorn -----------------------------------------------------------------------


def chunked(base: str, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
    """POST `body` with Transfer-Encoding: chunked and no Content-Length; status and body."""
    host, port = base.removeprefix("http://").split(":")
    head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    chunks = b"".join(
        b"%x\r\n%s\r\n" % (len(body[i : i + 8192]), body[i : i + 8192])
        for i in range(0, len(body), 8192)
    )
    request = (
        (
            f"POST {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n"
            f"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n{head}\r\n"
        ).encode()
        + chunks
        + b"0\r\n\r\n"
    )
    with socket.create_connection((host, int(port)), timeout=30) as connection:
        connection.sendall(request)
        received = b""
        while data := connection.recv(65536):
            received += data
    status_line, _, rest = received.partition(b"\r\n")
    assert b"Content-Length" not in request
    return int(status_line.split()[1]), rest.partition(b"\r\n\r\n")[2]


def test_an_oversized_chunked_body_is_413_with_or_without_a_token(served: Served):
    base, token = served.base, served.token
    oversized = json.dumps(
        coalition_payload(slug="big", description="x" * DEFAULT_MAX_BODY_BYTES)
    ).encode()

    for headers in ({"Authorization": f"Bearer {token}"}, {}):
        status, body = chunked(base, "/api/v1/coalitions", oversized, headers)
        assert status == 413, body
        assert json.loads(body)["code"] == 413
    assert requests.get(f"{base}/api/v1/coalitions/big", timeout=5).status_code == 404


def test_a_chunked_body_within_the_limit_is_read_whole(served: Served):
    base, token = served.base, served.token
    # Exactly the limit (JSON may end in spaces): what werkzeug handed back truncated was
    # exactly `limit` bytes, so this is the body that must still be told apart from a longer one.
    body = json.dumps(coalition_payload(slug="chunked")).encode()
    body += b" " * (DEFAULT_MAX_BODY_BYTES - len(body))

    status, answer = chunked(base, "/api/v1/coalitions", body, {"Authorization": f"Bearer {token}"})

    assert status == 201, answer
    assert json.loads(answer)["slug"] == "chunked"
    too_long = json.dumps(coalition_payload(slug="one-more")).encode()
    too_long += b" " * (DEFAULT_MAX_BODY_BYTES + 1 - len(too_long))
    status, _ = chunked(base, "/api/v1/coalitions", too_long, {"Authorization": f"Bearer {token}"})
    assert status == 413
