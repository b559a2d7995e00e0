"""Verification of the `X-Nylas-Signature` header of a webhook delivery.

Nylas signs each delivery with HMAC-SHA256 over the raw request bytes, keyed with the webhook
destination's secret, and sends the digest as lower-case hex. The digest is checked over the
bytes exactly as received (the gzip bytes of a compressed delivery): a body parsed and encoded
again can differ in spacing or key order and would not match.
"""

import hashlib
import hmac
import re
from collections.abc import Sequence

from pydantic import SecretStr

SIGNATURE_HEADER = "X-Nylas-Signature"

# 32 bytes as lower-case hex. Anything else, such as a base64 digest, is rejected before any
# comparison.
_HEX_DIGEST = re.compile(r"[0-9a-f]{64}")


def compute_signature(body: bytes, secret: SecretStr) -> str:
    """Return the lower-case hex HMAC-SHA256 of `body` keyed with `secret`."""
    key = secret.get_secret_value().encode()
    return hmac.new(key, body, hashlib.sha256).hexdigest()


def is_hex_digest(signature: str) -> bool:
    return _HEX_DIGEST.fullmatch(signature) is not None


def verify_signature(body: bytes, signature: str | None, secrets: Sequence[SecretStr]) -> bool:
    """Return whether `signature` is the hex HMAC-SHA256 of `body` under any of `secrets`.

    Every secret is compared, in constant time, even after a match, so the response time does
    not reveal which secret matched.
    """
    if signature is None or not is_hex_digest(signature):
        return False

    matched = False
    for secret in secrets:
        expected = compute_signature(body, secret)
        matched |= hmac.compare_digest(expected.encode(), signature.encode())
    return matched
