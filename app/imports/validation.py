"""Validation of import rows with the API's own registration models.

A row passes exactly when `POST /v1/grants` would accept it as a body. Problems name the field
and what is wrong with it, never the value, because the value may be a refresh token or a
password.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import TypeAdapter, ValidationError

from app.core.errors import secret_length_reason
from app.grants.models import Provider
from app.grants.schemas import GrantRegistration
from app.imports.rows import SourceRow

_REGISTRATION: TypeAdapter[GrantRegistration] = TypeAdapter(GrantRegistration)
# Pydantic puts the discriminator's value first in the location of errors inside a union
# member, e.g. ("google", "settings", "refresh_token").
_PROVIDER_TAGS = frozenset(str(provider) for provider in Provider)


@dataclass(frozen=True)
class ValidRow:
    """A row that passed validation. `registration` holds the credentials as `SecretStr`."""

    number: int
    registration: GrantRegistration = field(repr=False)

    @property
    def user_id(self) -> str:
        return self.registration.user_id


@dataclass(frozen=True)
class InvalidRow:
    """A row that failed validation. `user_id` is set only for a duplicate of an earlier row.

    Other invalid rows carry no user id, because a cell of a broken row can hold anything. A
    CSV row missing a cell moves a credential into the user_id column, and many passwords and
    refresh tokens match the user id pattern. The row number finds the row in the file.
    """

    number: int
    user_id: str | None
    problems: tuple[str, ...]

    @property
    def message(self) -> str:
        return "; ".join(self.problems)


def validate_row(row: SourceRow) -> ValidRow | InvalidRow:
    """Validate one row as a registration request."""
    if row.fields is None:
        return InvalidRow(row.number, None, (row.problem or "unreadable row",))

    try:
        registration = _REGISTRATION.validate_python(row.fields)
    except ValidationError as exc:
        return InvalidRow(row.number, None, tuple(_problems(exc)))
    return ValidRow(row.number, registration)


def _problems(exc: ValidationError) -> list[str]:
    # include_input=False: pydantic's `input` is the submitted value, possibly a secret. The
    # context is read only for a length limit, never written out whole.
    errors = exc.errors(include_url=False, include_input=False)
    return [_problem(error) for error in errors]


def _problem(error: Mapping[str, Any]) -> str:
    kind = error.get("type")
    if kind == "union_tag_not_found":
        return "provider: field required"
    if kind == "union_tag_invalid":
        # Pydantic's message repeats the submitted provider; name the accepted ones instead.
        return f"provider: must be one of {', '.join(provider.value for provider in Provider)}"
    reason = secret_length_reason(error) or error.get("msg", "invalid")
    return f"{_field_name(error.get('loc', ()))}: {reason}"


def _field_name(location: Sequence[int | str]) -> str:
    parts = [str(part) for part in location]
    if parts and parts[0] in _PROVIDER_TAGS:
        parts = parts[1:]
    return ".".join(parts) or "row"


class DuplicateUsers:
    """Remembers the first row of each user id, because a user holds one grant.

    A later row for the same user would replace or re-authenticate the grant of the first, and
    rows run concurrently, so which one won would be a matter of timing. Only the first row of
    a user is imported. Keeps one entry per user of the file: user ids only, no credentials.
    """

    def __init__(self) -> None:
        self._first_row: dict[str, int] = {}

    def check(self, row: ValidRow) -> InvalidRow | None:
        """Return an invalid row when an earlier row has the same user id."""
        first = self._first_row.setdefault(row.user_id, row.number)
        if first == row.number:
            return None
        problem = f"user_id: the same user is on row {first}, and only the first row is imported"
        return InvalidRow(row.number, row.user_id, (problem,))
