"""Request bodies sent with ``Transfer-Encoding: chunked`` (no Content-Length).

A WSGI server such as gunicorn hands such a body to the application as a stream of unknown
length and no ``CONTENT_LENGTH``; Django then reads it as empty (a valid key pair create would
be answered "None is not of type 'object'"). This WSGI middleware reads the body into memory
first, at most one byte more than ``CELLSV2_MAX_REQUEST_BODY_SIZE``, and gives Django a body of
known length. A body over the limit keeps the length read (limit + 1), so the API's size check
answers it with its usual 413 fault. The rest of such a body is read and dropped, up to a few
times the limit: a server that closes the connection with the client's data still unread makes
the kernel reset it, and the client may then lose the 413 itself. A body larger still is cut off.
"""

import io

from django.conf import settings

READ_SIZE = 64 * 1024
# How much of an oversized body is read and dropped, as a multiple of the limit.
DRAIN_FACTOR = 8


class ChunkedBodies:
    def __init__(self, application):
        self.application = application

    def __call__(self, environ, start_response):
        if "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower() and not environ.get("CONTENT_LENGTH"):
            limit = settings.CELLSV2_MAX_REQUEST_BODY_SIZE
            body = self._read(environ["wsgi.input"], limit + 1)
            if len(body) > limit:
                self._drain(environ["wsgi.input"], DRAIN_FACTOR * limit)
            environ["wsgi.input"] = io.BytesIO(body)
            environ["CONTENT_LENGTH"] = str(len(body))
        return self.application(environ, start_response)

    @staticmethod
    def _drain(stream, most: int) -> None:
        left = most
        while left > 0:
            part = stream.read(min(READ_SIZE, left))
            if not part:
                return
            left -= len(part)

    @staticmethod
    def _read(stream, most: int) -> bytes:
        parts, size = [], 0
        while size < most:
            part = stream.read(min(READ_SIZE, most - size))
            if not part:
                break
            parts.append(part)
            size += len(part)
        return b"".join(parts)
