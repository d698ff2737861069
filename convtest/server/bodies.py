"""Request bodies as the reference agent reads them, on every endpoint: bounded in size while they
arrive, and parsed as a JSON object without a stack a client can exhaust."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import ClientDisconnect, Request

from convtest.server.faults import BadRequest

__all__ = ["BodyTooLarge", "json_object", "read_body"]


class BodyTooLarge(BadRequest):
    """A body over the limit: answered 413, and the connection closed so its rest is never read."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"Request body exceeds the limit of {limit} bytes.")


async def read_body(request: Request, limit: int) -> bytes:
    """The body, refused as soon as it is known to pass ``limit``: by its Content-Length before
    anything is read, else by counting what arrives, since a chunked body declares no length."""
    declared = request.headers.get("content-length", "")
    # h11 has checked that a Content-Length is ASCII digits, at most 20 of them.
    if declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge(limit)
    body = bytearray()
    try:
        async for chunk in request.stream():
            body += chunk
            if len(body) > limit:
                raise BodyTooLarge(limit)
    except ClientDisconnect:
        # Nobody is left to read an answer, but one ends the request without a logged traceback.
        raise BadRequest("The client disconnected before the end of the body.") from None
    return bytes(body)


def json_object(raw: bytes) -> dict[str, Any]:
    try:
        body = json.loads(raw)
    except ValueError:
        raise BadRequest("Request body must be valid JSON.") from None
    except RecursionError:
        # json's decoder recurses once per level, so a body of brackets exhausts the stack.
        raise BadRequest("Request body nests too deeply.") from None
    if not isinstance(body, dict):
        raise BadRequest("Request body must be a JSON object.")
    return body
