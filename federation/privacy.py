"""Keep members' IP addresses out of logs: nothing about a subscriber is worth keeping."""

from __future__ import annotations

import ipaddress
import logging
import re
from typing import Any

from gunicorn import glogging

# werkzeug's request log line starts "<client address> - - [<time>] ...".
_REQUEST_LINE = re.compile(r"^\S+ - - \[")
# gunicorn's warning for a malformed request: "Invalid request from ip=<address>: <error>".
_INVALID_REQUEST = re.compile(r"^Invalid request from ip=\S*?: ")
# The error quotes what the client sent (a request line, a header, a PROXY line), which can
# name addresses or a user agent of its own.
_ADDRESS_LIKE = re.compile(r"[0-9A-Fa-f]*[.:][0-9A-Fa-f.:]*[0-9A-Fa-f]")
_USER_AGENT = re.compile(r"(user-agent\s*:?\s*)[^'\"]+", re.IGNORECASE)
# Access log atoms that would carry a client's address or user agent, whatever the format says.
_CLIENT_ATOM = re.compile(r"remote_|socket|user[-_]agent|forwarded|real[-_]ip|client[-_]ip")


def _drop_address(match: re.Match[str]) -> str:
    text = match.group()
    for candidate in (text, text.rpartition(":")[0]):  # "198.51.100.7:51234" too
        try:
            ipaddress.ip_address(candidate)
        except ValueError:
            continue
        return "-"
    return text


def anonymize(message: str) -> str:
    """The log line without the client's address (or user agent), the rest kept."""
    message = _REQUEST_LINE.sub("- - - [", message, count=1)
    if _INVALID_REQUEST.match(message):
        error = _INVALID_REQUEST.sub("", message, count=1)
        error = _USER_AGENT.sub(r"\1-", _ADDRESS_LIKE.sub(_drop_address, error))
        message = "Invalid request: " + error
    return message


class DropClientAddress(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        anonymous = anonymize(message)
        if anonymous != message:
            record.msg, record.args = anonymous, None
        return True


def _add_filter(logger: logging.Logger) -> None:
    if not any(isinstance(f, DropClientAddress) for f in logger.filters):
        logger.addFilter(DropClientAddress())


def install() -> None:
    """Attach the filter once to the development server's logger."""
    _add_filter(logging.getLogger("werkzeug"))


class GunicornLogger(glogging.Logger):  # type: ignore[misc]  # gunicorn ships no types
    """gunicorn's logger (`logger_class` in gunicorn.conf.py) through the same filter: a
    malformed request's warning keeps its error and loses `ip=…`; the access log's address and
    user-agent atoms are blank even if someone puts them back in the format."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        _add_filter(self.error_log)

    def atoms(self, resp: Any, req: Any, environ: Any, request_time: Any) -> dict[str, Any]:
        atoms: dict[str, Any] = super().atoms(resp, req, environ, request_time)
        for key in atoms:
            if key in ("h", "a") or (key.startswith("{") and _CLIENT_ATOM.search(key)):
                atoms[key] = "-"
        return atoms
