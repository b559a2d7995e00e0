"""The contract helper itself: it loads the file, skips without it, and rejects mismatches."""

from pathlib import Path
from typing import Any

import pytest

from tests.contract.openapi import (
    OPENAPI_PATH_VARIABLE,
    ContractViolation,
    load_contract,
    validate_request,
    validate_response,
)

CANARY = "canary-helper-2b7c"


def grant(**fields: Any) -> dict[str, Any]:
    base = {"id": "g-1", "provider": "google", "created_at": 1, "scope": ["openid"]}
    return {key: value for key, value in {**base, **fields}.items() if value is not None}


def test_skips_without_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(OPENAPI_PATH_VARIABLE, raising=False)

    with pytest.raises(pytest.skip.Exception, match=f"{OPENAPI_PATH_VARIABLE} is not set"):
        load_contract()


def test_skips_with_missing_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(OPENAPI_PATH_VARIABLE, str(tmp_path / "absent.yml"))

    with pytest.raises(pytest.skip.Exception, match="does not exist"):
        load_contract()


def test_loads_once_per_process() -> None:
    assert load_contract() is load_contract()


def test_response_valid_grant() -> None:
    validate_response("get_grant", 200, {"request_id": "r-1", "data": grant()})


@pytest.mark.parametrize("provider", ["imap", "icloud"])
def test_response_imap_icloud_without_scope(provider: str) -> None:
    validate_response(
        "get_grant", 200, {"request_id": "r-1", "data": grant(provider=provider, scope=None)}
    )


def test_response_google_without_scope() -> None:
    with pytest.raises(ContractViolation, match="'scope' is a required property"):
        validate_response("get_grant", 200, {"request_id": "r-1", "data": grant(scope=None)})


def test_response_imap_without_id() -> None:
    body = {"request_id": "r-1", "data": grant(provider="imap", scope=None, id=None)}

    with pytest.raises(ContractViolation, match="'id' is a required property"):
        validate_response("get_grant", 200, body)


@pytest.mark.parametrize(
    ("fields", "path"),
    [
        ({"created_at": CANARY}, "$.data.created_at"),
        ({"grant_status": "expired"}, "$.data.grant_status"),
        ({"provider": "gmail"}, "$.data.provider"),
        ({"scope": CANARY}, "$.data.scope"),
    ],
)
def test_response_wrong_field(fields: dict[str, Any], path: str) -> None:
    with pytest.raises(ContractViolation, match=path.replace("$", r"\$")) as raised:
        validate_response("connect_custom", 201, {"request_id": "r-1", "data": grant(**fields)})

    assert CANARY not in str(raised.value)


def test_response_list_items_checked() -> None:
    body = {"request_id": "r-1", "data": [grant(), grant(id=None)], "limit": 10, "offset": 0}

    with pytest.raises(ContractViolation, match=r"\$\.data\[1\]"):
        validate_response("list_grants", 200, body)


def test_response_error_extra_member() -> None:
    body = {"request_id": "r-1", "error": {"type": "t", "message": "m"}, "detail": "extra"}

    with pytest.raises(ContractViolation, match="detail"):
        validate_response("connect_custom", 400, body)


def test_response_error_as_string() -> None:
    body = {"request_id": "r-1", "error": "internal failure while contacting provider"}

    with pytest.raises(ContractViolation, match=r"\$\.error"):
        validate_response("get_grant", 404, body)


def test_response_undocumented_status() -> None:
    with pytest.raises(ContractViolation, match="status 418"):
        validate_response("get_grant", 418, {"request_id": "r-1"})


def test_request_documented_query() -> None:
    query = {
        "grant_status": "valid",
        "limit": "200",
        "offset": 0,
        "sort_by": "updated_at",
        "order_by": "asc",
    }

    validate_request("list_grants", query=query)


@pytest.mark.parametrize(
    ("query", "name"),
    [
        ({"grantStatus": "invalid"}, "grantStatus"),
        ({"sortBy": "updated_at"}, "sortBy"),
        ({"limit": "ten"}, "limit"),
        ({"grant_status": "expired"}, "grant_status"),
        ({"order_by": "up"}, "order_by"),
    ],
)
def test_request_bad_query(query: dict[str, str], name: str) -> None:
    with pytest.raises(ContractViolation, match=name):
        validate_request("list_grants", query=query)


def test_request_get_takes_no_body() -> None:
    with pytest.raises(ContractViolation, match="no request body"):
        validate_request("get_grant", body={"scope": []})


def test_request_connect_needs_body() -> None:
    with pytest.raises(ContractViolation, match="required"):
        validate_request("connect_custom")


@pytest.mark.parametrize(
    "body",
    [
        {"provider": "google", "settings": {"refresh_token": CANARY}},
        {"provider": "microsoft", "settings": {"refresh_token": CANARY, "credential_id": "c-1"}},
        {
            "provider": "imap",
            "settings": {"imap_username": "a", "imap_password": CANARY, "imap_port": 993},
        },
        {"provider": "icloud", "settings": {"username": "a@icloud.example", "password": CANARY}},
        {
            "provider": "ews",
            "settings": {"email": "a@b.example", "ews_username": "a", "ews_password": CANARY},
        },
    ],
)
def test_request_valid_connect_body(body: dict[str, Any]) -> None:
    validate_request("connect_custom", body=body)


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"provider": "gmail", "settings": {"refresh_token": CANARY}}, "documented providers"),
        (
            {"provider": "imap", "settings": {"imap_password": CANARY, "imap_port": "993"}},
            "imap_port",
        ),
        ({"provider": "google", "settings": CANARY}, "settings"),
        ({"settings": {"refresh_token": CANARY}}, "provider"),
    ],
)
def test_request_invalid_connect_body(body: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ContractViolation, match=fragment) as raised:
        validate_request("connect_custom", body=body)

    assert CANARY not in str(raised.value)


def test_request_update_body() -> None:
    validate_request("update_grant", body={"settings": {"refresh_token": "x"}, "scope": ["openid"]})

    with pytest.raises(ContractViolation, match="scope"):
        validate_request("update_grant", body={"scope": "openid"})


def test_unknown_operation() -> None:
    with pytest.raises(ValueError, match="unknown operation"):
        validate_request("create_grant")
