"""What a request may hold, and the one error type the API answers with.

Every limit is checked as early as it can be: the body's size while it arrives (413),
an image's real type from its bytes (415) and its pixel count from its header before it is
decoded (413), the number of instances (413), each JSON field (422, naming the field).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

#: Largest request body, in bytes (a phone photo is 2-8 MB).
DEFAULT_MAX_BODY_BYTES = 10 * 1024 * 1024
#: Most instances in one predict request.
DEFAULT_MAX_BATCH = 64
#: Largest image the server decodes (width x height): a 16-megapixel photo, 48 MB as RGB.
DEFAULT_MAX_PIXELS = 16_000_000
#: Requests handled at once; more wait for an answer 503 (uvicorn's limit_concurrency).
DEFAULT_MAX_CONCURRENCY = 32


@dataclass(frozen=True)
class Limits:
    """The limits of one server (`convolab serve --max-body-mb --max-batch`)."""

    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    max_batch: int = DEFAULT_MAX_BATCH
    max_pixels: int = DEFAULT_MAX_PIXELS


class ApiError(Exception):
    """An HTTP error answered as {"error": message} with `status`."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = " ".join(str(message).split())


def error_body(message: str) -> bytes:
    """{"error": message} as the bytes of a JSON body."""
    return json.dumps({"error": " ".join(str(message).split())}).encode()


class BodyLimit:
    """ASGI middleware: refuse a request body above `max_bytes` with 413, before the app
    reads it (by its Content-Length) or as soon as it passes the limit (when streamed)."""

    def __init__(self, app, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_bytes:
            body = error_body(self._message())
            await send({"type": "http.response.start", "status": 413,
                        "headers": [(b"content-type", b"application/json"),
                                    (b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body})
            return
        from starlette.exceptions import HTTPException

        received = 0

        async def limited_receive():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    # An HTTPException, not ApiError: FastAPI's form parser lets only
                    # those through (anything else there becomes a 400).
                    raise HTTPException(413, self._message())
            return message

        await self.app(scope, limited_receive, send)

    def _message(self) -> str:
        return (f"the request body is larger than the limit of {self.max_bytes:,} bytes; "
                f"send a smaller image or fewer instances")
