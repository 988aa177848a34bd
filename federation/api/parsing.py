"""Request bodies within limits: JSON nesting depth, and what Python's parser cannot take."""

from __future__ import annotations

import json
from typing import Any, NoReturn

import flask
import flask_smorest
from flask_smorest import abort
from webargs import core
from webargs.flaskparser import FlaskParser, is_json_request

# No API body nests more than three levels (an event's location, a coalition's members); this
# leaves room for later fields while keeping what a crafted body makes the server walk small.
MAX_JSON_DEPTH = 16


def parse_json_body(raw: bytes) -> Any:
    """`raw` as JSON nested at most MAX_JSON_DEPTH levels.

    The standard library parser has no depth limit of its own (it recurses until Python's
    recursion limit, then raises RecursionError), and refuses integers of more than 4,300
    digits with a plain ValueError: both become the JSONDecodeError webargs reports as a 400.
    """
    try:
        document = core.parse_json(raw)
    except RecursionError:
        raise _invalid(f"nested deeper than {MAX_JSON_DEPTH} levels") from None
    except json.JSONDecodeError:
        raise
    except ValueError as exc:
        # Python's int() limit (sys.get_int_max_str_digits); the message names no content.
        raise _invalid(str(exc).split(";")[0]) from None
    if _deeper_than(document, MAX_JSON_DEPTH):
        raise _invalid(f"nested deeper than {MAX_JSON_DEPTH} levels")
    return document


def _invalid(reason: str) -> json.JSONDecodeError:
    # A non-empty document: webargs takes a JSONDecodeError of an empty one for "no body".
    return json.JSONDecodeError(reason, "<body>", 0)


def _deeper_than(document: Any, max_depth: int) -> bool:
    # Iterative on purpose: the check must not itself recurse as deep as the document.
    stack = [(document, 1)] if isinstance(document, dict | list) else []
    while stack:
        node, depth = stack.pop()
        if depth > max_depth:
            return True
        children = node.values() if isinstance(node, dict) else node
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


class Parser(FlaskParser):
    """webargs' Flask parser, reading JSON bodies with parse_json_body."""

    def _raw_load_json(self, req: flask.Request) -> Any:
        if not is_json_request(req):
            return core.missing
        return parse_json_body(req.get_data(cache=True))

    def _handle_invalid_json_error(
        self,
        error: json.JSONDecodeError | UnicodeDecodeError,
        req: flask.Request,
        *args: Any,
        **kwargs: Any,
    ) -> NoReturn:
        # The parser's reason, not the document (which may hold anything).
        reason = error.msg if isinstance(error, json.JSONDecodeError) else "not UTF-8"
        abort(400, messages={"json": [f"Invalid JSON body: {reason}."]})
        raise AssertionError("abort() returned")  # pragma: no cover


class Blueprint(flask_smorest.Blueprint):  # type: ignore[misc]
    """flask-smorest's Blueprint, parsing arguments with Parser."""

    ARGUMENTS_PARSER = Parser()
