"""Signature verification over the raw bytes, without the app."""

import base64
import json

import pytest
from pydantic import SecretStr

from app.webhooks.signature import compute_signature, verify_signature
from tests.webhooks.conftest import CASE_SECRET, EXPIRED_BODY, EXPIRED_SIGNATURE

SECRETS = [SecretStr(CASE_SECRET)]


def test_signature_matches_known_vector() -> None:
    assert compute_signature(EXPIRED_BODY, SecretStr(CASE_SECRET)) == EXPIRED_SIGNATURE


def test_verify_accepts_hex_digest() -> None:
    assert verify_signature(EXPIRED_BODY, EXPIRED_SIGNATURE, SECRETS)


def test_verify_accepts_any_configured_secret() -> None:
    secrets = [SecretStr("new-secret-after-rotation"), SecretStr(CASE_SECRET)]

    assert verify_signature(EXPIRED_BODY, EXPIRED_SIGNATURE, secrets)


def _base64_digest() -> str:
    return base64.b64encode(bytes.fromhex(EXPIRED_SIGNATURE)).decode()


@pytest.mark.parametrize(
    ("case", "signature"),
    [
        ("missing", None),
        ("empty", ""),
        ("base64 digest", _base64_digest()),
        ("upper-case hex", EXPIRED_SIGNATURE.upper()),
        ("prefixed", "sha256=" + EXPIRED_SIGNATURE),
        ("surrounding spaces", f" {EXPIRED_SIGNATURE} "),
        ("truncated", EXPIRED_SIGNATURE[:-2]),
        ("one digit changed", EXPIRED_SIGNATURE[:-1] + "3"),
    ],
)
def test_verify_rejects_malformed_signature(case: str, signature: str | None) -> None:
    assert not verify_signature(EXPIRED_BODY, signature, SECRETS), case


def test_verify_rejects_reserialised_body() -> None:
    reserialised = json.dumps(json.loads(EXPIRED_BODY), indent=1).encode()

    assert not verify_signature(reserialised, EXPIRED_SIGNATURE, SECRETS)


def test_verify_rejects_other_secret() -> None:
    assert not verify_signature(EXPIRED_BODY, EXPIRED_SIGNATURE, [SecretStr("another-secret")])


def test_verify_rejects_without_secrets() -> None:
    assert not verify_signature(EXPIRED_BODY, EXPIRED_SIGNATURE, [])
