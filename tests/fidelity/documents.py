"""Request bodies taken from Fivetran's own documents in /work/shared/fivetran, read at test time.

The bodies are not copied into the project: the reference page's example request and the OpenAPI's
per-property examples are parsed from the files, so a new version of either document is picked up.
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from tests.helpers import SHARED_FIVETRAN as SHARED

REFERENCE_PAGE = SHARED / "update-a-connection.txt"
OPENAPI = SHARED / "fivetran-openapi.json"


def documents_available() -> bool:
    """Whether both documents are on this machine (they are shipped to developers, not with the package)."""
    return REFERENCE_PAGE.is_file() and OPENAPI.is_file()


@cache
def reference_example_body() -> dict[str, Any]:
    """The JSON body of the example ``PATCH`` request on the reference page, exactly as printed."""
    text = REFERENCE_PAGE.read_text(encoding="utf-8")
    request = text.index("PATCH /v1/connections/")
    start = text.index("{", request)
    body, _ = json.JSONDecoder().raw_decode(text, start)
    assert isinstance(body, dict)
    return body


@cache
def openapi() -> dict[str, Any]:
    """The whole OpenAPI definition."""
    loaded: dict[str, Any] = json.loads(OPENAPI.read_text(encoding="utf-8"))
    return loaded


def update_request_properties() -> dict[str, Any]:
    """``UpdateConnectorRequest.properties``, ``$ref`` resolved one level."""
    schemas = openapi()["components"]["schemas"]
    properties: dict[str, Any] = {}
    for name, prop in schemas["UpdateConnectorRequest"]["properties"].items():
        ref = prop.get("$ref")
        properties[name] = schemas[ref.rsplit("/", 1)[-1]] if ref else prop
    return properties


def openapi_example_body() -> dict[str, Any]:
    """A body made of every ``example`` the update schema gives, one per property that has one.

    Nested objects without an example of their own (``destination_configuration``) are built from
    their properties' examples.
    """
    body: dict[str, Any] = {}
    for name, prop in update_request_properties().items():
        if "example" in prop:
            body[name] = prop["example"]
        elif prop.get("type") == "object" and prop.get("properties"):
            inner = {key: sub["example"] for key, sub in prop["properties"].items() if "example" in sub}
            if inner:
                body[name] = inner
    return body


__all__ = [
    "OPENAPI",
    "REFERENCE_PAGE",
    "documents_available",
    "openapi",
    "openapi_example_body",
    "reference_example_body",
    "update_request_properties",
]
