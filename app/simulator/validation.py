"""Parsing and validation of the request bodies and query strings the simulator accepts.

Every function raises `NylasApiError` (400 `invalid_request_error`) on bad input. The message
names the field or parameter at fault and never repeats the submitted value, because that value
may be a refresh token or a password.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field

from pydantic import SecretStr

from app.simulator.errors import invalid_request
from app.simulator.providers import PROVIDERS, SETTING_FIELDS, SettingField

MAX_LIST_LIMIT = 200
DEFAULT_LIST_LIMIT = 10

# Query parameters of `GET /v3/grants` that select grants whose field equals the value.
EQUALITY_FILTERS = ("grant_status", "provider", "email", "ip", "account_id", "workspace_id")

_ENUM_PARAMETERS: dict[str, tuple[str, ...]] = {
    "grant_status": ("valid", "invalid"),
    "sort_by": ("created_at", "updated_at"),
    "order_by": ("asc", "desc"),
}


@dataclass(frozen=True)
class ParsedSettings:
    """A provider's `settings`: hosts, ports and ids in `public`, every other value in `secrets`."""

    public: dict[str, str | int] = field(default_factory=dict)
    secrets: dict[str, SecretStr] = field(default_factory=dict)

    def secret(self, name: str) -> str | None:
        value = self.secrets.get(name)
        return value.get_secret_value() if value is not None else None


@dataclass(frozen=True)
class ConnectRequest:
    """A validated `POST /v3/connect/custom` body."""

    provider: str
    settings: ParsedSettings
    scope: tuple[str, ...] | None
    state: str | None


@dataclass(frozen=True)
class GrantUpdate:
    """A validated `PATCH /v3/grants/{grant_id}` body; None means the field was not sent."""

    settings: ParsedSettings | None
    scope: tuple[str, ...] | None


@dataclass(frozen=True)
class ListQuery:
    """A validated `GET /v3/grants` query. Unknown parameters were dropped, as Nylas does."""

    limit: int = DEFAULT_LIST_LIMIT
    offset: int = 0
    since: int | None = None
    before: int | None = None
    equals: dict[str, str] = field(default_factory=dict)
    account_ids: frozenset[str] | None = None
    sort_by: str = "created_at"
    order_by: str = "desc"


def parse_connect_body(payload: object) -> ConnectRequest:
    body = _require_object(payload)

    provider = _parse_provider(body.get("provider"))
    settings = body.get("settings")
    if not isinstance(settings, dict):
        raise invalid_request("settings is required and must be an object")

    return ConnectRequest(
        provider=provider,
        settings=parse_settings(provider, settings, require_all=True),
        scope=_parse_scope(body),
        state=_parse_optional_string(body, "state"),
    )


def parse_update_body(provider: str, payload: object) -> GrantUpdate:
    body = _require_object(payload)

    settings = body.get("settings")
    if settings is not None and not isinstance(settings, dict):
        raise invalid_request("settings must be an object")

    parsed = parse_settings(provider, settings, require_all=False) if settings is not None else None
    return GrantUpdate(settings=parsed, scope=_parse_scope(body))


def parse_settings(
    provider: str, settings: Mapping[str, object], *, require_all: bool
) -> ParsedSettings:
    """Check the provider's known settings fields and drop unknown ones.

    With `require_all`, a missing required field is an error; otherwise only types are checked.
    """
    parsed = ParsedSettings()
    for setting in SETTING_FIELDS.get(provider, ()):
        value = settings.get(setting.name)
        if value is None:
            if require_all and setting.required:
                raise invalid_request(
                    f"settings.{setting.name} is required for provider {provider}"
                )
            continue

        checked = _check_setting_value(setting, value)
        if setting.secret:
            parsed.secrets[setting.name] = SecretStr(str(checked))
        else:
            parsed.public[setting.name] = checked
    return parsed


def parse_list_query(params: Mapping[str, str]) -> ListQuery:
    """Validate the documented snake_case parameters; every other name is ignored."""
    # An empty value counts as absent.
    present = {name: value for name, value in params.items() if value != ""}

    equals = {name: present[name] for name in EQUALITY_FILTERS if name in present}
    if "grant_status" in equals:
        _check_enum("grant_status", equals["grant_status"])

    account_ids = present.get("account_ids")
    return ListQuery(
        limit=_int_parameter(
            present, "limit", DEFAULT_LIST_LIMIT, minimum=1, maximum=MAX_LIST_LIMIT
        ),
        offset=_int_parameter(present, "offset", 0, minimum=0),
        since=_optional_int_parameter(present, "since"),
        before=_optional_int_parameter(present, "before"),
        equals=equals,
        account_ids=frozenset(account_ids.split(",")) if account_ids is not None else None,
        sort_by=_check_enum("sort_by", present.get("sort_by", "created_at")),
        order_by=_check_enum("order_by", present.get("order_by", "desc")),
    )


def _require_object(payload: object) -> dict[str, object]:
    if not isinstance(payload, dict):
        raise invalid_request("error parsing request body: expected a JSON object")
    return payload


def _parse_provider(value: object) -> str:
    if value is None:
        raise invalid_request("provider is required")
    if not isinstance(value, str) or value not in PROVIDERS:
        supported = ", ".join(sorted(PROVIDERS))
        raise invalid_request(f"provider is not supported; expected one of {supported}")
    return value


def _parse_scope(body: Mapping[str, object]) -> tuple[str, ...] | None:
    scope = body.get("scope")
    if scope is None:
        return None
    if not isinstance(scope, list) or not all(isinstance(item, str) for item in scope):
        raise invalid_request("scope must be an array of strings")
    return tuple(scope)


def _parse_optional_string(body: Mapping[str, object], name: str) -> str | None:
    value = body.get(name)
    if value is not None and not isinstance(value, str):
        raise invalid_request(f"{name} must be a string")
    return value


def _check_setting_value(setting: SettingField, value: object) -> str | int:
    if setting.kind is int:
        # bool is a subclass of int in Python, but JSON true is not a port number.
        if not isinstance(value, int) or isinstance(value, bool):
            raise invalid_request(f"settings.{setting.name} must be an integer")
        return value

    if not isinstance(value, str):
        raise invalid_request(f"settings.{setting.name} must be a string")
    if setting.required and not value:
        raise invalid_request(f"settings.{setting.name} must not be empty")
    return value


def _check_enum(name: str, value: str) -> str:
    allowed = _ENUM_PARAMETERS[name]
    if value not in allowed:
        raise invalid_request(f"{name} must be one of {', '.join(allowed)}")
    return value


def _int_parameter(
    present: Mapping[str, str], name: str, default: int, *, minimum: int, maximum: int | None = None
) -> int:
    value = _optional_int_parameter(present, name)
    if value is None:
        return default

    if value < minimum or (maximum is not None and value > maximum):
        bounds = f"from {minimum} to {maximum}" if maximum is not None else f"of at least {minimum}"
        raise invalid_request(f"{name} must be an integer {bounds}")
    return value


def _optional_int_parameter(present: Mapping[str, str], name: str) -> int | None:
    raw = present.get(name)
    if raw is None:
        return None
    try:
        return int(raw)
    except ValueError:
        raise invalid_request(f"{name} must be an integer") from None
