"""Content decoding of webhook bodies, without the app."""

import gzip
import zlib

import pytest

from app.webhooks.body import MAX_BODY_BYTES, decode_body
from app.webhooks.errors import InvalidDelivery, PayloadTooLarge, UnsupportedEncoding
from tests.webhooks.conftest import EXPIRED_BODY, gzipped


@pytest.mark.parametrize("encoding", [None, "identity", " Identity "])
def test_decode_identity_returns_bytes(encoding: str | None) -> None:
    assert decode_body(EXPIRED_BODY, encoding) is EXPIRED_BODY


@pytest.mark.parametrize("encoding", ["gzip", "GZIP", "x-gzip"])
def test_decode_gzip(encoding: str) -> None:
    assert decode_body(gzipped(EXPIRED_BODY), encoding) == EXPIRED_BODY


def test_decode_gzip_at_limit() -> None:
    body = b" " * MAX_BODY_BYTES

    assert decode_body(gzipped(body), "gzip") == body


def test_decode_gzip_bomb_rejected() -> None:
    # About 2 KiB compressed, 2 MiB decompressed.
    bomb = gzipped(b"\0" * (2 * MAX_BODY_BYTES))

    with pytest.raises(PayloadTooLarge):
        decode_body(bomb, "gzip")


def test_decode_gzip_one_byte_over_limit() -> None:
    with pytest.raises(PayloadTooLarge):
        decode_body(gzipped(b" " * (MAX_BODY_BYTES + 1)), "gzip")


def test_decode_truncated_gzip_rejected() -> None:
    with pytest.raises(InvalidDelivery):
        decode_body(gzipped(EXPIRED_BODY)[:-6], "gzip")


def test_decode_gzip_with_trailing_data_rejected() -> None:
    with pytest.raises(InvalidDelivery):
        decode_body(gzipped(EXPIRED_BODY) + gzip.compress(b"{}"), "gzip")


def test_decode_plain_bytes_as_gzip_rejected() -> None:
    with pytest.raises(InvalidDelivery):
        decode_body(EXPIRED_BODY, "gzip")


@pytest.mark.parametrize("encoding", ["br", "deflate", "gzip, br"])
def test_decode_other_encoding_rejected(encoding: str) -> None:
    with pytest.raises(UnsupportedEncoding):
        decode_body(zlib.compress(EXPIRED_BODY), encoding)
