"""Service settings, read from the environment with the `GRANT_BROKER_` prefix."""

from enum import StrEnum
from functools import lru_cache
from typing import Annotated

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

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

    nylas_region: Annotated[str, Field(pattern="^(us|eu)$")] = "us"
    # Overrides the region's base URL, for the simulator or a private endpoint.
    nylas_api_url: str | None = None
    nylas_api_key: SecretStr | None = None
    nylas_connect_timeout: Annotated[float, Field(gt=0, description="seconds")] = 3.0
    nylas_read_timeout: Annotated[float, Field(gt=0, description="seconds")] = 15.0
    nylas_max_attempts: Annotated[int, Field(ge=1, le=10)] = 3
    # Upper bound on the time one broker operation may spend on Nylas, retries and waits included.
    nylas_retry_budget: Annotated[float, Field(gt=0, description="seconds")] = 20.0
    nylas_backoff_initial: Annotated[float, Field(gt=0, description="seconds")] = 0.5
    nylas_backoff_max: Annotated[float, Field(gt=0, description="seconds")] = 8.0

    idempotency_ttl: Annotated[int, Field(ge=60, description="seconds")] = 86_400

    log_level: str = "INFO"
    # JSON log lines; the default is JSON outside development and console output in it.
    log_json: bool | None = None

    @property
    def nylas_base_url(self) -> str:
        return (self.nylas_api_url or NYLAS_REGION_URLS[self.nylas_region]).rstrip("/")

    @property
    def is_development(self) -> bool:
        return self.env is Environment.DEVELOPMENT

    def require_nylas_api_key(self) -> SecretStr:
        """Return the Nylas API key, or raise ValueError naming the setting to fix."""
        if self.nylas_api_key is None or not self.nylas_api_key.get_secret_value():
            raise ValueError(
                "GRANT_BROKER_NYLAS_API_KEY is missing: set it to the Nylas application's API key"
            )
        return self.nylas_api_key


@lru_cache
def get_settings() -> Settings:
    return Settings()
