"""Validation of import rows with the API's registration models."""

from typing import Any

import pytest

from app.grants.schemas import ImapRegistration, OAuthRegistration
from app.imports.rows import SourceRow
from app.imports.validation import DuplicateUsers, InvalidRow, ValidRow, validate_row

CANARY = "canary-password-5d1e"


def _row(fields: dict[str, Any] | None, number: int = 7) -> SourceRow:
    return SourceRow(number, fields)


def test_valid_google_row() -> None:
    fields = {"user_id": "u-1", "provider": "google", "settings": {"refresh_token": CANARY}}

    checked = validate_row(_row(fields))

    assert isinstance(checked, ValidRow)
    assert isinstance(checked.registration, OAuthRegistration)
    assert checked.registration.settings.refresh_token.get_secret_value() == CANARY
    assert CANARY not in repr(checked)


def test_valid_csv_style_imap_row() -> None:
    # CSV cells are strings; the port is converted as the API converts JSON numbers.
    settings = {"imap_username": "bob", "imap_password": CANARY, "imap_port": "993"}
    fields = {"user_id": "u-1", "provider": "imap", "settings": settings}

    checked = validate_row(_row(fields))

    assert isinstance(checked, ValidRow)
    assert isinstance(checked.registration, ImapRegistration)
    assert checked.registration.settings.imap_port == 993


@pytest.mark.parametrize(
    ("fields", "problems"),
    [
        (
            {"user_id": "u-1", "provider": "google", "settings": {}},
            ("settings.refresh_token: Field required",),
        ),
        (
            {"user_id": "u-1", "provider": "gmail", "settings": {"refresh_token": CANARY}},
            ("provider: must be one of google, microsoft, yahoo, zoom, imap, icloud, ews",),
        ),
        (
            {"user_id": "u-1", "settings": {"refresh_token": CANARY}},
            ("provider: field required",),
        ),
        (
            {
                "user_id": "u-1",
                "provider": "imap",
                "settings": {"imap_username": "bob", "imap_password": CANARY, "imap_port": CANARY},
            },
            (
                "settings.imap_port: Input should be a valid integer, unable to parse string as an integer",
            ),
        ),
        (
            {
                "user_id": "u-1",
                "provider": "google",
                "settings": {"refresh_token": "x", "password": CANARY},
            },
            ("settings.password: Extra inputs are not permitted",),
        ),
        (
            {"provider": "icloud", "settings": {"username": "a@icloud.com"}, "scope": "mail"},
            (
                "user_id: Field required",
                "scope: Input should be a valid list",
                "settings.password: Field required",
            ),
        ),
    ],
    ids=[
        "missing-token",
        "unknown-provider",
        "missing-provider",
        "bad-port",
        "extra-setting",
        "several",
    ],
)
def test_invalid_row_names_fields(fields: dict[str, Any], problems: tuple[str, ...]) -> None:
    checked = validate_row(_row(fields))

    assert isinstance(checked, InvalidRow)
    assert checked.problems == problems
    assert CANARY not in checked.message


@pytest.mark.parametrize("user_id", [f"{CANARY}-shifted", f"{CANARY} with spaces"])
def test_invalid_row_drops_user_id(user_id: str) -> None:
    # A shifted CSV row can put a credential into the user_id column, and many credentials
    # match the user id pattern.
    fields = {"user_id": user_id, "provider": "google", "settings": {}}

    checked = validate_row(_row(fields))

    assert isinstance(checked, InvalidRow)
    assert checked.user_id is None
    assert CANARY not in checked.message


def test_unreadable_row_keeps_problem() -> None:
    checked = validate_row(SourceRow(3, None, "not a JSON object"))

    assert checked == InvalidRow(3, None, ("not a JSON object",))


def test_duplicate_user_first_row_wins() -> None:
    duplicates = DuplicateUsers()
    rows = [
        validate_row(
            _row(
                {"user_id": user, "provider": "google", "settings": {"refresh_token": "t"}}, number
            )
        )
        for number, user in [(1, "u-1"), (2, "u-2"), (5, "u-1")]
    ]

    outcomes = [duplicates.check(row) for row in rows if isinstance(row, ValidRow)]

    assert outcomes[:2] == [None, None]
    assert outcomes[2] == InvalidRow(
        5, "u-1", ("user_id: the same user is on row 1, and only the first row is imported",)
    )


def test_unpaired_surrogate_row_is_invalid() -> None:
    fields = {"user_id": "u-1", "provider": "google", "settings": {"refresh_token": "\ud800"}}

    checked = validate_row(_row(fields))

    assert isinstance(checked, InvalidRow)
    assert checked.problems[0].startswith("settings.refresh_token: ")


def test_long_secret_limit_in_characters() -> None:
    fields = {"user_id": "u-1", "provider": "google", "settings": {"refresh_token": "x" * 5000}}

    checked = validate_row(_row(fields))

    assert isinstance(checked, InvalidRow)
    assert checked.problems == ("settings.refresh_token: must be at most 4096 characters",)
