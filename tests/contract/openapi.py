"""Validation of Nylas requests and responses against Nylas's published OpenAPI 3.1 file.

The file is not part of the project: its path comes from the environment variable
NYLAS_OPENAPI_PATH, and every function here skips the calling test when the variable is unset
or names a missing file. The file is parsed once per process (about a second for 1.5 MB).

Operations are named as in the simulator and the client: `connect_custom`, `list_grants`,
`get_grant`, `update_grant` and `delete_grant`. Usage::

    validate_request("list_grants", query={"grant_status": "valid", "limit": 200})
    validate_request("connect_custom", body={"provider": "google", "settings": {...}})
    validate_response("get_grant", 200, response.json())

Each raises ContractViolation, an AssertionError, listing every mismatch by JSON path. The
messages quote the schema, never the validated values, so a secret in a request body cannot
reach a test report.

Known deviations of the real service from its own file, each applied where it sits:

- IMAP and iCloud grants come without `scope`, which GrantObject marks required.
- The file leaves some error statuses off these operations although Nylas sends them: 429 on
  all five and 400 on list_grants. Such a status is checked against the file's shared
  response for it, which the file attaches to other operations.
- The `connect_custom` body variants overlap (a Google refresh-token body matches "Refresh
  token", "Credential override" and "Google bulk auth"), so its `oneOf` is checked as `anyOf`.
"""

import functools
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import referencing
import yaml
from jsonschema.exceptions import ValidationError
from jsonschema.protocols import Validator
from referencing.jsonschema import DRAFT202012

OPENAPI_PATH_VARIABLE = "NYLAS_OPENAPI_PATH"

# Operation name -> (path template, method) in the OpenAPI file.
OPERATIONS: dict[str, tuple[str, str]] = {
    "connect_custom": ("/v3/connect/custom", "post"),
    "list_grants": ("/v3/grants", "get"),
    "get_grant": ("/v3/grants/{grantId}", "get"),
    "update_grant": ("/v3/grants/{grantId}", "patch"),
    "delete_grant": ("/v3/grants/{grantId}", "delete"),
}

# Nylas omits `scope` from these grants although GrantObject requires it.
PROVIDERS_WITHOUT_SCOPE = frozenset({"imap", "icloud"})

_SPEC_URI = "urn:nylas-openapi"
_INTEGER = re.compile(r"-?[0-9]+")


class ContractViolation(AssertionError):
    """A request or response that does not match Nylas's OpenAPI file."""


# The request-body validator checks `oneOf` as `anyOf`, because the file's connect_custom
# variants overlap and a valid body matches several of them.
# jsonschema's `extend` has no type annotations.
_RequestBodyValidator: type[Validator] = jsonschema.validators.extend(  # type: ignore[no-untyped-call]
    jsonschema.Draft202012Validator,
    validators={"oneOf": jsonschema.Draft202012Validator.VALIDATORS["anyOf"]},
)


@dataclass(frozen=True)
class OpenApiContract:
    """The parsed OpenAPI file and a registry that resolves its `$ref`s."""

    spec: dict[str, Any]
    registry: referencing.Registry[Any]

    def node(self, pointer: str) -> Any:
        """Return the object at a JSON pointer (`/paths/~1v3~1grants/get`)."""
        node: Any = self.spec
        for token in pointer.lstrip("/").split("/"):
            key = token.replace("~1", "/").replace("~0", "~")
            node = node[key] if isinstance(node, dict) else node[int(key)]
        return node

    def follow(self, pointer: str) -> str:
        """Follow `$ref`s from the object at `pointer`; return the pointer of the target."""
        target = self.node(pointer)
        while isinstance(target, dict) and "$ref" in target:
            pointer = str(target["$ref"]).removeprefix("#")
            target = self.node(pointer)
        return pointer

    def errors(
        self, pointer: str, instance: object, *, request_body: bool = False
    ) -> list[ValidationError]:
        """Validate `instance` against the schema at `pointer`; return every error."""
        schema = {"$ref": f"{_SPEC_URI}#{pointer}"}
        cls = _RequestBodyValidator if request_body else jsonschema.Draft202012Validator
        validator: Validator = cls(schema, registry=self.registry)
        json_instance: Any = instance
        return list(validator.iter_errors(json_instance))


def validate_request(
    operation: str,
    *,
    query: Mapping[str, object] | None = None,
    body: object = None,
) -> None:
    """Check a request's query parameters and JSON body against the operation.

    Query values may be strings, as sent on the wire, or already typed. A query parameter the
    operation does not document is a violation: Nylas ignores it silently, so it filters
    nothing.
    """
    contract = load_contract()
    operation_pointer = _operation_pointer(operation)

    problems = _query_problems(contract, operation_pointer, query or {})
    problems += _body_problems(contract, operation_pointer, body)
    _raise_if_any(operation, "request", problems)


def validate_response(operation: str, status: int, body: object) -> None:
    """Check a JSON response body against the operation's schema for `status`."""
    contract = load_contract()
    schema_pointer = _response_schema_pointer(contract, operation, status)

    errors = contract.errors(schema_pointer, body)
    problems = [_describe(error) for error in errors if not _is_known_deviation(error)]
    _raise_if_any(operation, f"{status} response", problems)


def load_contract() -> OpenApiContract:
    """Return the parsed OpenAPI file, or skip the test when it is not available."""
    raw_path = os.environ.get(OPENAPI_PATH_VARIABLE)
    if not raw_path:
        pytest.skip(
            f"{OPENAPI_PATH_VARIABLE} is not set; set it to Nylas's OpenAPI file "
            "(nylas-api-openapi.yml) to run the contract checks"
        )
    path = Path(raw_path)
    if not path.is_file():
        pytest.skip(f"{OPENAPI_PATH_VARIABLE} names a file that does not exist: {path}")
    return _parse(path.resolve())


@functools.cache
def _parse(path: Path) -> OpenApiContract:
    with path.open("rb") as stream:
        spec = yaml.load(stream, Loader=yaml.CSafeLoader)

    resource = referencing.Resource.from_contents(spec, default_specification=DRAFT202012)
    registry: referencing.Registry[Any] = referencing.Registry().with_resource(_SPEC_URI, resource)
    return OpenApiContract(spec=spec, registry=registry)


def _operation_pointer(operation: str) -> str:
    if operation not in OPERATIONS:
        raise ValueError(f"unknown operation; expected one of {', '.join(OPERATIONS)}")
    path, method = OPERATIONS[operation]
    return f"/paths/{_escape(path)}/{method}"


def _query_problems(
    contract: OpenApiContract, operation_pointer: str, query: Mapping[str, object]
) -> list[str]:
    documented = dict(_query_parameters(contract, operation_pointer))
    problems = []
    for name, value in query.items():
        schema_pointer = documented.get(name)
        if schema_pointer is None:
            problems.append(f"query parameter {name!r} is not documented for this operation")
            continue

        schema = contract.node(schema_pointer)
        typed = _from_query_string(value, schema.get("type"))
        errors = contract.errors(schema_pointer, typed)
        problems += [f"query parameter {name!r}: {_describe(error)}" for error in errors]
    return problems


def _query_parameters(
    contract: OpenApiContract, operation_pointer: str
) -> Iterator[tuple[str, str]]:
    """Yield (name, schema pointer) for each documented query parameter."""
    parameters = contract.node(operation_pointer).get("parameters", [])
    for index in range(len(parameters)):
        pointer = contract.follow(f"{operation_pointer}/parameters/{index}")
        parameter = contract.node(pointer)
        if parameter.get("in") == "query":
            yield parameter["name"], f"{pointer}/schema"


def _from_query_string(value: object, schema_type: object) -> object:
    """Convert a query string to the schema's type, leaving an unconvertible one as it is."""
    if not isinstance(value, str):
        return value
    if schema_type == "integer" and _INTEGER.fullmatch(value):
        return int(value)
    if schema_type == "boolean" and value in ("true", "false"):
        return value == "true"
    return value


def _body_problems(contract: OpenApiContract, operation_pointer: str, body: object) -> list[str]:
    request_body = contract.node(operation_pointer).get("requestBody")
    if request_body is None:
        return [] if body is None else ["the operation documents no request body"]
    if body is None:
        required = bool(request_body.get("required"))
        return ["the request body is required"] if required else []

    schema_pointer = f"{operation_pointer}/requestBody/content/application~1json/schema"
    errors = contract.errors(schema_pointer, body, request_body=True)
    return [f"body {_describe(error)}" for error in errors]


def _response_schema_pointer(contract: OpenApiContract, operation: str, status: int) -> str:
    responses_pointer = f"{_operation_pointer(operation)}/responses"
    responses = contract.node(responses_pointer)
    if str(status) in responses:
        response_pointer = contract.follow(f"{responses_pointer}/{status}")
    elif str(status) in contract.spec["components"]["responses"]:
        # Nylas sends this status for the operation although the file lists it elsewhere only.
        response_pointer = contract.follow(f"/components/responses/{status}")
    else:
        raise ContractViolation(f"{operation}: status {status} is not documented")
    return f"{response_pointer}/content/application~1json/schema"


def _is_known_deviation(error: ValidationError) -> bool:
    """Tell whether the error is the missing `scope` of an IMAP or iCloud grant."""
    instance = error.instance
    return (
        error.validator == "required"
        and error.message.startswith("'scope' ")
        and isinstance(instance, dict)
        and instance.get("provider") in PROVIDERS_WITHOUT_SCOPE
    )


def _describe(error: ValidationError) -> str:
    """Describe an error by path and schema rule, without quoting the validated value."""
    location = error.json_path
    if error.validator in ("required", "additionalProperties"):
        # These messages name properties, which come from the schema or the shape, not values.
        return f"{location}: {error.message}"
    if error.validator in ("oneOf", "anyOf"):
        return f"{location}: matches none of the documented variants; {_variant_details(error)}"
    rule = repr(error.validator_value)
    return f"{location}: fails {error.validator} {rule[:120]}"


def _variant_details(error: ValidationError) -> str:
    """Describe the errors of the variants written for the body's provider."""
    by_variant: dict[object, list[ValidationError]] = {}
    for sub_error in error.context or []:
        by_variant.setdefault(sub_error.relative_schema_path[0], []).append(sub_error)

    # A variant whose provider enum fails is written for another provider: its errors are noise.
    relevant = [
        sub_error
        for sub_errors in by_variant.values()
        if not any(_is_provider_mismatch(sub_error) for sub_error in sub_errors)
        for sub_error in sub_errors
    ]
    if not relevant:
        return "$.provider is not one of the documented providers"
    # Variants share fields, so the same error often comes from several of them.
    return "; ".join(dict.fromkeys(_describe(sub_error) for sub_error in relevant))


def _is_provider_mismatch(error: ValidationError) -> bool:
    return error.validator == "enum" and list(error.relative_path) == ["provider"]


def _raise_if_any(operation: str, subject: str, problems: list[str]) -> None:
    if problems:
        listing = "\n  ".join(problems)
        raise ContractViolation(f"{operation} {subject} does not match the contract:\n  {listing}")


def _escape(path: str) -> str:
    return path.replace("~", "~0").replace("/", "~1")
