"""Auth settings checked at startup: the mode, and the caller map from JSON or a file."""

from __future__ import annotations

import asyncio
import io
import json
from dataclasses import replace
from pathlib import Path

import pytest

from app.auth import (
    ALL_PERMISSIONS,
    ANONYMOUS,
    AuthConfigError,
    Authenticator,
    AuthMode,
    Permission,
    load_auth_config,
)
from app.core.logging import configure_logging
from tests.auth.conftest import (
    BILLING,
    MESH_CALLERS,
    AuthTestSettings,
    ClientFactory,
    callers_json,
)


def test_mesh_callers_from_json(mesh_settings: AuthTestSettings) -> None:
    config = load_auth_config(mesh_settings)

    assert config.mode is AuthMode.MESH
    assert config.callers[BILLING] == {Permission.GRANTS_REGISTER, Permission.GRANTS_READ}
    assert set(config.callers) == set(MESH_CALLERS)


def test_mesh_callers_from_file(tmp_path: Path) -> None:
    path = tmp_path / "callers.json"
    path.write_text(callers_json({BILLING: ["events:read"]}))

    config = load_auth_config(AuthTestSettings(callers_file=path))

    assert config.callers == {BILLING: frozenset({Permission.EVENTS_READ})}


def test_token_mode_accepts_plain_names() -> None:
    settings = AuthTestSettings(
        auth_mode=AuthMode.TOKEN, callers=callers_json({"billing-api": ["grants:read"]})
    )

    config = load_auth_config(settings)

    assert config.callers == {"billing-api": frozenset({Permission.GRANTS_READ})}


@pytest.mark.parametrize(
    ("callers", "message"),
    [
        (
            '{"spiffe://cluster.local/ns/a/sa/b": ["grants:read"],',
            "GRANT_BROKER_CALLERS is not valid JSON: Expecting property name enclosed in double "
            "quotes at line 1, column 54.",
        ),
        ('["grants:read"]', "GRANT_BROKER_CALLERS must be a JSON object keyed by principal."),
        ("{}", "GRANT_BROKER_CALLERS lists no callers, so every request would be rejected."),
        (
            f'{{"{BILLING}": ["grants:read"], "{BILLING}": ["admin"]}}',
            f"GRANT_BROKER_CALLERS lists '{BILLING}' more than once.",
        ),
        (
            json.dumps({BILLING: ["grants:read", "grants:write", "root"]}),
            f"GRANT_BROKER_CALLERS: {BILLING} has unknown permissions grants:write, root; use "
            "names from: admin, events:read, grants:delete, grants:read, grants:register.",
        ),
        (
            json.dumps({BILLING: "grants:read"}),
            f"GRANT_BROKER_CALLERS: the permissions of {BILLING} must be a list of names from: "
            "admin, events:read, grants:delete, grants:read, grants:register.",
        ),
        (
            json.dumps({BILLING: []}),
            f"GRANT_BROKER_CALLERS: {BILLING} has no permissions; list at least one or remove "
            "the entry.",
        ),
        (
            json.dumps({"billing-api": ["grants:read"]}),
            "GRANT_BROKER_CALLERS: invalid principal 'billing-api': expected an Istio workload "
            "SPIFFE ID such as spiffe://cluster.local/ns/billing/sa/billing-api.",
        ),
        (
            json.dumps({"spiffe://cluster.local/ns/billing": ["grants:read"]}),
            "GRANT_BROKER_CALLERS: invalid principal 'spiffe://cluster.local/ns/billing': "
            "expected an Istio workload SPIFFE ID such as "
            "spiffe://cluster.local/ns/billing/sa/billing-api.",
        ),
    ],
)
def test_callers_invalid(callers: str, message: str) -> None:
    with pytest.raises(AuthConfigError) as raised:
        load_auth_config(AuthTestSettings(callers=callers))

    assert str(raised.value) == message


def test_token_mode_rejects_anonymous() -> None:
    settings = AuthTestSettings(
        auth_mode=AuthMode.TOKEN, callers=callers_json({ANONYMOUS: ["grants:read"]})
    )

    with pytest.raises(AuthConfigError, match="invalid principal 'anonymous'"):
        load_auth_config(settings)


def test_callers_missing() -> None:
    with pytest.raises(AuthConfigError) as raised:
        load_auth_config(AuthTestSettings(auth_mode=AuthMode.TOKEN))

    assert str(raised.value).startswith(
        "GRANT_BROKER_CALLERS or GRANT_BROKER_CALLERS_FILE is required with "
        "GRANT_BROKER_AUTH_MODE=token"
    )


def test_callers_blank_counts_as_missing() -> None:
    with pytest.raises(AuthConfigError, match="is required"):
        load_auth_config(AuthTestSettings(callers="  "))


def test_callers_both_sources(tmp_path: Path) -> None:
    settings = AuthTestSettings(callers=callers_json(MESH_CALLERS), callers_file=tmp_path / "c")

    with pytest.raises(AuthConfigError) as raised:
        load_auth_config(settings)

    assert (
        str(raised.value) == "Set only one of GRANT_BROKER_CALLERS and GRANT_BROKER_CALLERS_FILE."
    )


def test_callers_file_missing(tmp_path: Path) -> None:
    path = tmp_path / "absent.json"

    with pytest.raises(AuthConfigError) as raised:
        load_auth_config(AuthTestSettings(callers_file=path))

    assert str(raised.value) == (
        f"GRANT_BROKER_CALLERS_FILE {path} could not be read: No such file or directory."
    )


def test_callers_file_error_names_file(tmp_path: Path) -> None:
    path = tmp_path / "callers.json"
    path.write_text(json.dumps({BILLING: ["grant:read"]}))

    with pytest.raises(AuthConfigError) as raised:
        load_auth_config(AuthTestSettings(callers_file=path))

    assert str(raised.value).startswith(
        f"GRANT_BROKER_CALLERS_FILE ({path}): {BILLING} has unknown permissions grant:read;"
    )


def test_none_mode_rejected_in_production() -> None:
    settings = AuthTestSettings(auth_mode=AuthMode.NONE, is_development=False)

    with pytest.raises(AuthConfigError) as raised:
        Authenticator.from_settings(settings)

    assert str(raised.value) == (
        "GRANT_BROKER_AUTH_MODE=none turns caller authentication off and is allowed only with "
        "GRANT_BROKER_ENV=development. Set GRANT_BROKER_AUTH_MODE to mesh or token."
    )


def test_none_mode_warns_in_development(log_output: io.StringIO) -> None:
    configure_logging(level="DEBUG", json=True)
    settings = AuthTestSettings(auth_mode=AuthMode.NONE, is_development=True)

    config = load_auth_config(settings)

    assert config.callers == {ANONYMOUS: ALL_PERMISSIONS}
    lines = [json.loads(line) for line in log_output.getvalue().splitlines()]
    warnings = [line for line in lines if line["event"] == "auth.disabled"]
    assert len(warnings) == 1
    assert warnings[0]["level"] == "warning"


def test_none_mode_ignores_callers() -> None:
    settings = AuthTestSettings(auth_mode=AuthMode.NONE, is_development=True, callers="not json")

    config = load_auth_config(settings)

    assert config.mode is AuthMode.NONE


def test_mesh_settings_valid_in_production(mesh_settings: AuthTestSettings) -> None:
    production = replace(mesh_settings, is_development=False)

    assert Authenticator.from_settings(production).mode is AuthMode.MESH


async def test_none_mode_allows_anonymous(make_client: ClientFactory) -> None:
    settings = AuthTestSettings(auth_mode=AuthMode.NONE, is_development=True)
    client = make_client(Authenticator.from_settings(settings))

    listed = await client.get("/grants")
    whoami = await client.get("/whoami")

    assert listed.status_code == 200
    assert whoami.json() == {"principal": "anonymous", "permissions": sorted(ALL_PERMISSIONS)}


async def test_mesh_mode_has_no_refresh_loop(mesh_settings: AuthTestSettings) -> None:
    authenticator = Authenticator.from_settings(mesh_settings)

    await asyncio.wait_for(authenticator.load(), timeout=1)
    await asyncio.wait_for(authenticator.run_refresh_loop(), timeout=1)

    assert authenticator.status() == {"mode": "mesh"}
