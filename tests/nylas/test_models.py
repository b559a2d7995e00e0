from __future__ import annotations

import pytest
from pydantic import ValidationError

from app.nylas import GrantPage, NylasGrant

# Nylas's response for an IMAP account: the grant has no `scope` key although the spec marks it
# required.
IMAP_GRANT_WITHOUT_SCOPE = {
    "id": "6b3b7a8e-2f6c-4c0e-9a8d-1e2f3a4b5c6d",
    "provider": "imap",
    "grant_status": "valid",
    "email": "jordan@example.net",
    "created_at": 1764806400,
    "updated_at": 1764806400,
}


def test_grant_missing_scope_is_empty() -> None:
    grant = NylasGrant.model_validate(IMAP_GRANT_WITHOUT_SCOPE)

    assert grant.scope == []


def test_grant_null_scope_is_empty() -> None:
    grant = NylasGrant.model_validate({**IMAP_GRANT_WITHOUT_SCOPE, "scope": None})

    assert grant.scope == []


def test_grant_only_id_and_provider() -> None:
    grant = NylasGrant.model_validate({"id": "g-1", "provider": "icloud"})

    assert grant.grant_status == "valid"
    assert grant.email is None
    assert grant.created_at is None
    assert grant.state is None


def test_grant_ignores_unknown_fields() -> None:
    grant = NylasGrant.model_validate(
        {"id": "g-1", "provider": "google", "settings": {"x": 1}, "blocked": False}
    )

    assert grant.model_dump(exclude_defaults=True) == {"id": "g-1", "provider": "google"}


@pytest.mark.parametrize(
    "payload",
    [
        {"provider": "google"},
        {"id": "g-1"},
        {"id": "", "provider": "google"},
        {"id": "g-1", "provider": "google", "grant_status": "expired"},
        {"id": "g-1", "provider": "google", "scope": "openid"},
    ],
    ids=["no id", "no provider", "empty id", "unknown status", "scope not a list"],
)
def test_grant_rejects_invalid(payload: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        NylasGrant.model_validate(payload)


def test_grant_page_parses_grants() -> None:
    page = GrantPage.model_validate(
        {"data": [IMAP_GRANT_WITHOUT_SCOPE], "limit": 10, "offset": 20, "request_id": "r-1"}
    )

    assert [grant.id for grant in page.data] == [IMAP_GRANT_WITHOUT_SCOPE["id"]]
    assert (page.limit, page.offset, page.request_id) == (10, 20, "r-1")
