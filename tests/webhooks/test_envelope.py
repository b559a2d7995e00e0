"""Parsing of the envelope and the grant object, without the app."""

import pytest

from app.webhooks.envelope import (
    GrantTrigger,
    carries_only_grant_id,
    parse_envelope,
    parse_grant_object,
)
from app.webhooks.errors import InvalidDelivery
from tests.webhooks.conftest import CREATED_ID_ONLY_BODY, EXPIRED_BODY, envelope


def test_envelope_parses_expired_case() -> None:
    parsed = parse_envelope(EXPIRED_BODY)

    assert parsed.id == "evt-1"
    assert parsed.trigger is GrantTrigger.EXPIRED
    assert parsed.time == 1739223251
    assert parsed.grant_id == "grant-1"
    assert parse_grant_object(parsed).code == 25009


def test_envelope_id_only_object() -> None:
    parsed = parse_envelope(CREATED_ID_ONLY_BODY)

    assert carries_only_grant_id(parsed)
    assert parse_grant_object(parsed).grant_id == "6b3b7a8e-2f6c-4c0e-9a8d-1e2f3a4b5c6d"
    assert parse_grant_object(parsed).provider is None


def test_envelope_null_fields_count_as_missing() -> None:
    body = envelope("grant.created", "g-1", event_id="e", time=1, provider=None, email=None)

    assert carries_only_grant_id(parse_envelope(body))


def test_envelope_full_object_is_not_id_only() -> None:
    assert not carries_only_grant_id(parse_envelope(EXPIRED_BODY))


def test_envelope_other_type_has_no_trigger() -> None:
    parsed = parse_envelope(envelope("message.created", "g-1", event_id="e", time=1))

    assert parsed.trigger is None


def test_envelope_ignores_unknown_fields() -> None:
    body = envelope("grant.deleted", "g-1", event_id="e", time=1, new_field={"nested": 1})

    assert parse_grant_object(parse_envelope(body)).grant_id == "g-1"


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"reauthentication_flag": True}, True),
        ({"reauthentication_flag": True, "code": 25014}, True),
        ({"code": 25027}, True),
        ({"reauthentication_flag": False, "code": 25027}, True),
        ({"reauthentication_flag": False, "code": 25014}, False),
        ({"code": 25014}, False),
        ({"reauthentication_flag": False}, False),
        ({"provider": "google"}, None),
    ],
)
def test_grant_object_reauthentication(fields: dict[str, object], expected: bool | None) -> None:
    body = envelope("grant.updated", "g-1", event_id="e", time=1, **fields)

    assert parse_grant_object(parse_envelope(body)).is_reauthentication is expected


def test_envelope_rejects_invalid_json() -> None:
    with pytest.raises(InvalidDelivery) as raised:
        parse_envelope(b'{"id": "evt-1",')

    assert raised.value.detail == "The body is not valid JSON."


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b'{"type":"grant.expired","time":1}', "id"),
        (b'{"id":"e","time":1}', "type"),
        (b'{"id":"e","type":"grant.expired"}', "time"),
        (b'{"id":"e","type":"grant.expired","time":-1}', "time"),
        (b'{"id":"e","type":"grant.expired","time":99999999999999}', "time"),
        (b'{"id":"","type":"grant.expired","time":1}', "id"),
        (b'["not", "an", "object"]', ""),
    ],
)
def test_envelope_rejects_invalid_field(body: bytes, field: str) -> None:
    with pytest.raises(InvalidDelivery) as raised:
        parse_envelope(body)

    assert raised.value.detail is not None
    assert raised.value.detail.startswith("The webhook envelope has invalid or missing fields")
    assert field in raised.value.detail


def test_grant_object_requires_grant_id() -> None:
    parsed = parse_envelope(b'{"id":"e","type":"grant.expired","time":1,"data":{"object":{}}}')

    with pytest.raises(InvalidDelivery) as raised:
        parse_grant_object(parsed)

    assert raised.value.detail is not None
    assert "data.object.grant_id" in raised.value.detail


def test_invalid_field_message_omits_value() -> None:
    body = b'{"id":"e","type":"grant.expired","time":"canary-value-91c2"}'

    with pytest.raises(InvalidDelivery) as raised:
        parse_envelope(body)

    assert "canary-value-91c2" not in str(raised.value)
