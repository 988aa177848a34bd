"""Security headers: nothing sniffed or framed, no referrer sent, pages load only their own."""

from __future__ import annotations

from flask import Flask
from werkzeug.wrappers import Response

# Members' pages load one stylesheet from this origin and nothing else; the inline JSON-LD is a
# data block, not a script, so it needs no script-src. The filter form submits here.
PAGE_POLICY = (
    "default-src 'none'; style-src 'self'; form-action 'self'; base-uri 'none'; "
    "frame-ancestors 'none'"
)
# JSON and calendars run nothing in a browser. Calendar clients ignore CSP, and CORS reads of the
# feeds (Access-Control-Allow-Origin: *) are not affected by it.
DATA_POLICY = "default-src 'none'; frame-ancestors 'none'"


def page_headers(response: Response) -> Response:
    """The members' pages' policy; set before the defaults below, which then leave it alone."""
    response.headers["Content-Security-Policy"] = PAGE_POLICY
    return response


def init_app(app: Flask) -> None:
    @app.after_request
    def _defaults(response: Response) -> Response:
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        response.headers.setdefault("Content-Security-Policy", DATA_POLICY)
        return response
