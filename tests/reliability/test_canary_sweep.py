"""A canary sweep over everything a run of `grant-broker serve` leaves behind.

Every secret in the run starts with one canary prefix: refresh tokens and passwords, the Nylas
API key, the webhook signing secret and the callers' bearer tokens. The broker runs as a real
process in production mode (token identity, JSON logs at DEBUG) on PostgreSQL, in front of
`grant-broker simulator` in its own process. The traffic takes every path with a secret in it:
success, revoked credentials, an upstream that quotes the credential back, HTML 502s, resets,
timeouts, validation failures, idempotent replays, a forged webhook and a wrong bearer token.
Afterwards no response, header, log line, `/metrics` output or `pg_dump` of the database may
contain the prefix.
"""

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import make_url

from tests.process.servers import RunningCommand, clean_environment, free_port, run_command

CANARY = "canary-b41d"
API_KEY = f"{CANARY}-nylas-api-key"
WEBHOOK_SECRET = f"{CANARY}-webhook-secret"
CALLER = "billing-api"
CALLER_TOKEN = f"{CANARY}-caller-token-0b9e7c5d2a41f8e63d"


def _registrations() -> list[dict[str, Any]]:
    return [
        {
            "user_id": "c-google",
            "provider": "google",
            "settings": {"refresh_token": f"sim:g@example.com:{CANARY}-refresh"},
        },
        {
            "user_id": "c-imap",
            "provider": "imap",
            "settings": {
                "imap_username": "i@example.net",
                "imap_password": f"{CANARY}-imap",
                "smtp_username": "i@example.net",
                "smtp_password": f"{CANARY}-smtp",
            },
        },
        {
            "user_id": "c-icloud",
            "provider": "icloud",
            "settings": {"username": "c@icloud.com", "password": f"{CANARY}-icloud"},
        },
        {
            "user_id": "c-ews",
            "provider": "ews",
            "settings": {
                "email": "e@corp.example",
                "ews_username": "CORP\\e",
                "ews_password": f"{CANARY}-ews",
            },
        },
    ]


@pytest.fixture
def canary_nylas(tmp_path: Path) -> Iterator[RunningCommand]:
    port = free_port()
    arguments = ["simulator", "--port", str(port), "--rate-limit", "1000000"]
    environment = clean_environment(GRANT_BROKER_NYLAS_API_KEY=API_KEY)
    with run_command(arguments, port=port, environment=environment, workdir=tmp_path) as running:
        yield running


def _secret_files(directory: Path) -> dict[str, str]:
    files = {
        "GRANT_BROKER_NYLAS_API_KEY_FILE": ("nylas-api-key", API_KEY),
        "GRANT_BROKER_NYLAS_WEBHOOK_SECRET_FILE": ("webhook-secret", WEBHOOK_SECRET),
        "GRANT_BROKER_CALLER_TOKENS_FILE": ("caller-tokens", json.dumps({CALLER: CALLER_TOKEN})),
    }
    settings = {}
    for setting, (name, content) in files.items():
        (directory / name).write_text(content)
        settings[setting] = str(directory / name)
    return settings


def broker_environment(database_url: str, nylas: RunningCommand, directory: Path) -> dict[str, str]:
    permissions = ["grants:register", "grants:read", "grants:delete", "events:read", "admin"]
    return clean_environment(
        GRANT_BROKER_ENV="production",
        GRANT_BROKER_AUTH_MODE="token",
        GRANT_BROKER_CALLERS=json.dumps({CALLER: permissions}),
        GRANT_BROKER_DATABASE_URL=database_url,
        GRANT_BROKER_NYLAS_API_URL=nylas.base_url,
        GRANT_BROKER_NYLAS_READ_TIMEOUT="0.5",
        GRANT_BROKER_NYLAS_MAX_ATTEMPTS="2",
        GRANT_BROKER_NYLAS_RETRY_BUDGET="2",
        GRANT_BROKER_NYLAS_BACKOFF_INITIAL="0.01",
        GRANT_BROKER_LOG_LEVEL="DEBUG",
        GRANT_BROKER_LOG_JSON="true",
        GRANT_BROKER_SWEEP_ENABLED="false",
        **_secret_files(directory),
    )


class Recorder:
    """Sends requests to the broker and keeps every response, headers included, as text."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http
        self.texts: list[str] = []
        self.statuses: list[int] = []

    async def send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        response = await self.http.request(method, path, **kwargs)
        self.texts.append(f"{response.status_code} {response.headers} {response.text}")
        self.statuses.append(response.status_code)
        return response


def _control(nylas: RunningCommand, path: str, body: dict[str, Any] | None = None) -> None:
    method = "DELETE" if body is None else "POST"
    httpx.request(method, f"{nylas.base_url}/_simulator{path}", json=body, timeout=5)


async def _every_path(recorder: Recorder, nylas: RunningCommand) -> None:
    for body in _registrations():
        await recorder.send(
            "POST", "/v1/grants", json=body, headers={"Idempotency-Key": body["user_id"]}
        )
        await recorder.send(
            "POST", "/v1/grants", json=body, headers={"Idempotency-Key": body["user_id"]}
        )
        await recorder.send("GET", f"/v1/users/{body['user_id']}/grant/status?max_age=0")
    revoked = {
        "user_id": "c-revoked",
        "provider": "google",
        "settings": {"refresh_token": f"{CANARY}-revoked"},
    }
    _control(nylas, "/credentials/revoke", {"provider": "google", "secret": f"{CANARY}-revoked"})
    await recorder.send("POST", "/v1/grants", json=revoked)
    await _faulted(recorder, nylas)
    invalid = {"user_id": "c-bad", "provider": "gmail", "settings": {"refresh_token": CANARY}}
    await recorder.send("POST", "/v1/grants", json=invalid)
    await recorder.send(
        "POST",
        "/v1/nylas/webhooks",
        content=json.dumps({"secret": CANARY}),
        headers={"X-Nylas-Signature": CANARY},
    )
    await recorder.send("GET", "/v1/grants", headers={"Authorization": f"Bearer {CANARY}-wrong"})
    await recorder.send("GET", "/v1/grants?limit=50")
    await recorder.send("GET", "/v1/events?after=0")
    await recorder.send("DELETE", "/v1/users/c-ews/grant")
    await recorder.send("GET", "/readyz")
    await recorder.send("GET", "/metrics")


async def _faulted(recorder: Recorder, nylas: RunningCommand) -> None:
    body = {
        "user_id": "c-fault",
        "provider": "google",
        "settings": {"refresh_token": f"sim:f@example.com:{CANARY}-faulted"},
    }
    echo = {
        "error": {
            "type": "invalid_request_error",
            "message": f"bad token sim:f@example.com:{CANARY}-faulted",
        }
    }
    faults: list[dict[str, Any]] = [
        {"status": 400, "body": json.dumps(echo)},
        {
            "status": 502,
            "body": "<html>bad gateway</html>",
            "content_type": "text/html",
            "times": None,
        },
        {"reset": True, "times": None},
        {"latency": 1.0, "times": None},
    ]
    for fault in faults:
        _control(nylas, "/faults", {"operation": "connect_custom", **fault})
        await recorder.send("POST", "/v1/grants", json=body)
        _control(nylas, "/faults")


def pg_dump(database_url: str) -> str:
    url = make_url(database_url)
    executable = shutil.which("pg_dump")
    assert executable is not None, "pg_dump is missing: install postgresql-client"
    command = [executable, "-h", url.host or "127.0.0.1", "-p", str(url.port or 5432)]
    command += ["-U", url.username or "postgres", url.database or ""]
    # PostgreSQL's own dump tool, on the test's own database.
    result = subprocess.run(command, capture_output=True, text=True, check=True)  # noqa: S603
    return result.stdout


async def test_canary_sweep_finds_nothing(
    fresh_postgres_url: str, canary_nylas: RunningCommand, tmp_path: Path
) -> None:
    environment = broker_environment(fresh_postgres_url, canary_nylas, tmp_path)
    port = free_port()
    arguments = ["serve", "--host", "127.0.0.1", "--port", str(port)]
    headers = {"Authorization": f"Bearer {CALLER_TOKEN}"}

    with run_command(arguments, port=port, environment=environment, workdir=tmp_path) as broker:
        async with httpx.AsyncClient(base_url=broker.base_url, headers=headers, timeout=30) as http:
            recorder = Recorder(http)
            await _every_path(recorder, canary_nylas)
    left_behind = {
        "responses": "\n".join(recorder.texts),
        "broker log": broker.log_path.read_text(),
        "simulator log": canary_nylas.log_path.read_text(),
        "database dump": pg_dump(fresh_postgres_url),
    }

    for where, content in left_behind.items():
        assert CANARY not in content, f"a secret reached the {where}"
    # The sweep looked at real material: registrations, failures and their logs are there.
    assert {201, 200, 422, 502, 503, 504, 401} <= set(recorder.statuses)
    assert "grant.registered" in left_behind["broker log"]
    assert "grant_broker_http_requests_total" in left_behind["responses"]
    assert "c-google" in left_behind["database dump"]
