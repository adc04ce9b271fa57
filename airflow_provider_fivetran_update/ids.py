"""The one check of a Fivetran connection id, and how an id goes into a URL path.

Every request about one connection goes to ``/v1/connections/{id}`` (or below it). An id is put
into that path percent-encoded (:func:`quote_connection_id`), so ``?``, ``#``, ``%`` and non-ASCII
letters stay inside the one path segment. What encoding alone cannot stop is refused before any
request by :func:`check_connection_id`: an empty id, ``.`` and ``..`` (which URL normalisation in
clients, proxies and servers turns into ``/v1/`` or ``/v1/connections``), ``/`` and ``\\`` (path
separators), whitespace and control characters; and the same after percent-decoding, so that a
proxy that decodes twice cannot turn ``%2e%2e`` or ``a%2fb`` into a dot segment or a separator.

Fivetran's own ids are short lowercase words joined by underscores (``decent_dropsy``); nothing a
real id contains is refused. The module is imported while DAG files are parsed: it loads nothing
but the standard library.
"""

from __future__ import annotations

import unicodedata
from urllib.parse import quote, unquote

from airflow_provider_fivetran_update.exceptions import FivetranValidationError

__all__ = ["check_connection_id", "quote_connection_id"]

_DOT_SEGMENTS = frozenset({".", ".."})
_SEPARATORS = ("/", "\\")
_ALLOWED = (
    "a Fivetran connection id such as 'decent_dropsy' (as shown in the connection's Setup tab): "
    "not empty, not '.' or '..', without '/', '\\', whitespace or control characters"
)


def _problem(text: str) -> str | None:
    if not text:
        return "is empty."
    if text in _DOT_SEGMENTS:
        return "is a dot path segment, which would send the request to another endpoint."
    if any(separator in text for separator in _SEPARATORS):
        return "contains a path separator, which would send the request to another endpoint."
    for char in text:
        # Cc: control characters (newline, tab, NUL...); Z*: every kind of space and line separator.
        category = unicodedata.category(char)
        if char.isspace() or category == "Cc" or category.startswith("Z"):
            return f"contains whitespace or a control character ({char!r})."
    return None


def check_connection_id(value: object, field: str = "connection_id") -> str:
    """Return ``value`` if it is a usable Fivetran connection id; raise otherwise.

    :param value: the id as given (or as rendered by Jinja).
    :param field: the argument named in the error (``connection_id``, ``connection_ids``).
    :return: ``value``, unchanged.
    :raises FivetranValidationError: naming ``field``, before any request is sent.
    """
    if not isinstance(value, str):
        raise FivetranValidationError(
            field, f"must be a string, got {type(value).__name__} {value!r}.", _ALLOWED
        )
    problem = _problem(value)
    decoded = unquote(value)
    if problem is None and decoded != value and _problem(decoded) is not None:
        problem = f"decodes (as %-escapes) to {decoded!r}, which " + str(_problem(decoded))
    if problem is not None:
        raise FivetranValidationError(field, f"{value!r} {problem}", _ALLOWED)
    return value


def quote_connection_id(connection_id: str) -> str:
    """The checked id, percent-encoded as one URL path segment (every reserved character escaped)."""
    return quote(check_connection_id(connection_id), safe="")
