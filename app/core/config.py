"""Service settings, read from the environment with the `GRANT_BROKER_` prefix."""

from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Annotated

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from app.auth.config import AuthMode

NYLAS_REGION_URLS = {
    "us": "https://api.us.nylas.com",
    "eu": "https://api.eu.nylas.com",
}


class Environment(StrEnum):
    DEVELOPMENT = "development"
    PRODUCTION = "production"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GRANT_BROKER_", extra="ignore")

    env: Environment = Environment.PRODUCTION
    database_url: str = "sqlite+aiosqlite:///./grant-broker.db"
    database_pool_size: Annotated[int, Field(ge=1)] = 10
    database_echo: bool = False

    # How callers are identified: `mesh` (the sidecar's X-Forwarded-Client-Cert), `token`
    # (bearer tokens) or `none` (development only: every caller may do everything).
    auth_mode: AuthMode = AuthMode.MESH
    # JSON object from principal to permissions, inline or in a file.
    callers: str | None = None
    callers_file: Path | None = None
    # Token mode: a JSON object from principal to bearer token, from exactly one source.
    caller_tokens: SecretStr | None = None
    caller_tokens_secret: str | None = None
    caller_tokens_file: Path | None = None

    nylas_region: Annotated[str, Field(pattern="^(us|eu)$")] = "us"
    # Overrides the region's base URL, for the simulator or a private endpoint.
    nylas_api_url: str | None = None
    # The API key comes from exactly one source: a Secret Manager version name, a file (a mounted
    # Kubernetes Secret), or, in development only, a plain value.
    nylas_api_key: SecretStr | None = None
    nylas_api_key_secret: str | None = Field(
        default=None, description="Secret Manager version, projects/P/secrets/S/versions/V"
    )
    nylas_api_key_file: Path | None = None
    nylas_connect_timeout: Annotated[float, Field(gt=0, description="seconds")] = 3.0
    nylas_read_timeout: Annotated[float, Field(gt=0, description="seconds")] = 15.0
    nylas_max_attempts: Annotated[int, Field(ge=1, le=10)] = 3
    # Upper bound on the time one broker operation may spend on Nylas, retries and waits included.
    nylas_retry_budget: Annotated[float, Field(gt=0, description="seconds")] = 20.0
    nylas_backoff_initial: Annotated[float, Field(gt=0, description="seconds")] = 0.5
    nylas_backoff_max: Annotated[float, Field(gt=0, description="seconds")] = 8.0

    # Points the Secret Manager client at an emulator or a private endpoint; plain http:// is
    # accepted for local fakes and then uses anonymous credentials.
    secret_manager_endpoint: str | None = None
    secret_manager_timeout: Annotated[float, Field(gt=0, description="seconds")] = 5.0
    secret_refresh_interval: Annotated[float, Field(gt=0, description="seconds")] = 300.0
    # Past this age without a successful refresh, /readyz reports the secret as stale.
    secret_max_age: Annotated[float, Field(gt=0, description="seconds")] = 3600.0
    # At most one refetch per this interval after Nylas rejects the key, so a bad key cannot
    # turn every request into a Secret Manager call.
    secret_rejection_refetch_interval: Annotated[float, Field(gt=0, description="seconds")] = 30.0

    # Nylas webhook signing secret, from exactly one source like the API key. Without any, the
    # webhook endpoint returns 503. The value may contain several secrets, one per line, which are
    # all accepted: put the new and the old one there while a rotation overlaps.
    nylas_webhook_secret: SecretStr | None = None
    nylas_webhook_secret_secret: str | None = None
    nylas_webhook_secret_file: Path | None = None

    # Status sweeps: list invalid grants at Nylas often, every grant rarely.
    sweep_enabled: bool = True
    sweep_invalid_interval: Annotated[float, Field(gt=0, description="seconds")] = 60.0
    sweep_full_interval: Annotated[float, Field(gt=0, description="seconds")] = 3600.0
    # The Grants API allows 50 requests/second per Nylas application, shared with every other
    # use of the key; a sweep keeps to this share of it.
    sweep_requests_per_second: Annotated[float, Field(gt=0, le=50)] = 10.0
    # Nylas's filtered listings lag fresh changes by tens of seconds. A sweep treats what it
    # reads as this old, so it never overwrites a change made just before it.
    sweep_listing_lag: Annotated[float, Field(ge=0, description="seconds")] = 60.0
    sweep_lease_ttl: Annotated[float, Field(gt=0, description="seconds")] = 120.0

    # Mass invalidation: this share of one provider's grants turning invalid within the window
    # is reported as one error, because the cause is usually the broker's connector setup.
    mass_invalidation_share: Annotated[float, Field(gt=0, le=1)] = 0.2
    mass_invalidation_window: Annotated[float, Field(gt=0, description="seconds")] = 900.0
    # Below this many grants of a provider the share means little, so no alarm is raised.
    mass_invalidation_min_grants: Annotated[int, Field(ge=1)] = 20

    event_retention: Annotated[float, Field(gt=0, description="seconds")] = 7 * 86_400.0

    # Registration bodies are a few hundred bytes; anything far larger is refused unread.
    max_request_body_bytes: Annotated[int, Field(ge=1024, description="bytes")] = 65_536

    idempotency_ttl: Annotated[int, Field(ge=60, description="seconds")] = 86_400

    # OpenTelemetry traces, exported over OTLP/HTTP as the OTEL_EXPORTER_OTLP_* variables configure.
    tracing_enabled: bool = False

    log_level: str = "INFO"
    # JSON log lines; the default is JSON outside development and console output in it.
    log_json: bool | None = None

    @property
    def nylas_base_url(self) -> str:
        return (self.nylas_api_url or NYLAS_REGION_URLS[self.nylas_region]).rstrip("/")

    @property
    def is_development(self) -> bool:
        return self.env is Environment.DEVELOPMENT


@lru_cache
def get_settings() -> Settings:
    return Settings()
