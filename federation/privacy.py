"""Keep members' IP addresses out of logs: nothing about a subscriber is worth keeping."""

from __future__ import annotations

import logging
import re

# werkzeug's request log line starts "<client address> - - [<time>] ...".
_REQUEST_LINE = re.compile(r"^\S+ - - \[")


class DropClientAddress(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = _REQUEST_LINE.sub("- - - [", record.msg, count=1)
        return True


def install() -> None:
    """Attach the filter once to the development server's logger."""
    logger = logging.getLogger("werkzeug")
    if not any(isinstance(f, DropClientAddress) for f in logger.filters):
        logger.addFilter(DropClientAddress())
