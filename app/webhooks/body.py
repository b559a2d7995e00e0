"""Reading a webhook request body with a size limit, and decompressing gzip deliveries."""

import zlib

from fastapi import Request

from app.webhooks.errors import InvalidDelivery, PayloadTooLarge, UnsupportedEncoding

# 1 MiB, for the raw body and again for a decompressed one. Grant notifications are well under
# a kilobyte, and the limit keeps a large or decompression-bomb body from filling memory.
MAX_BODY_BYTES = 1024 * 1024

# wbits for zlib: a gzip header and trailer around a deflate stream with the largest window.
_GZIP_WBITS = 16 + zlib.MAX_WBITS


async def read_body(request: Request, *, max_bytes: int = MAX_BODY_BYTES) -> bytes:
    """Read the raw request body, raising `PayloadTooLarge` as soon as it exceeds `max_bytes`.

    A declared `Content-Length` over the limit is rejected before any byte is read. The stream
    is counted as well, because a chunked request declares no length.
    """
    declared = _content_length(request)
    if declared is not None and declared > max_bytes:
        raise _too_large(max_bytes)

    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise _too_large(max_bytes)
        chunks.append(chunk)
    return b"".join(chunks)


def decode_body(
    raw: bytes, content_encoding: str | None, *, max_bytes: int = MAX_BODY_BYTES
) -> bytes:
    """Return the body with its content encoding removed: identity, or gzip up to `max_bytes`."""
    encoding = (content_encoding or "identity").strip().lower()
    if encoding == "identity":
        return raw
    if encoding in ("gzip", "x-gzip"):
        return _gunzip(raw, max_bytes)
    raise UnsupportedEncoding(
        f"Content-Encoding {encoding!r} is not supported. Send identity or gzip."
    )


def _content_length(request: Request) -> int | None:
    header = request.headers.get("content-length")
    if header is None:
        return None
    if not header.isdigit():
        raise InvalidDelivery("The Content-Length header is not a non-negative integer.")
    return int(header)


def _gunzip(data: bytes, max_bytes: int) -> bytes:
    decompressor = zlib.decompressobj(wbits=_GZIP_WBITS)
    try:
        # Stops after max_bytes + 1 bytes of output, so a small body that expands enormously
        # is never decompressed in full.
        output = decompressor.decompress(data, max_bytes + 1)
    except zlib.error:
        raise InvalidDelivery("The body is not valid gzip data.") from None

    if len(output) > max_bytes or decompressor.unconsumed_tail:
        raise _too_large(max_bytes, decompressed=True)
    if not decompressor.eof or decompressor.unused_data:
        raise InvalidDelivery("The gzip body is truncated or followed by extra data.")
    return output


def _too_large(max_bytes: int, *, decompressed: bool = False) -> PayloadTooLarge:
    label = "decompressed body" if decompressed else "body"
    return PayloadTooLarge(f"The {label} exceeds the limit of {max_bytes} bytes.")
