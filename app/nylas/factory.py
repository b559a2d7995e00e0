"""A Nylas client for commands that run outside the service: API key source, HTTP client, close."""

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx

from app.core.config import Settings
from app.nylas.calls import CallObserver
from app.nylas.client import NylasClient, RetryPolicy, create_http_client
from app.secrets import RotatingSecret, SecretManagerAccess, source_from_settings

API_KEY_SETTING = "GRANT_BROKER_NYLAS_API_KEY"


@asynccontextmanager
async def open_nylas_client(
    settings: Settings,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    observer: CallObserver | None = None,
) -> AsyncIterator[NylasClient]:
    """Yield a Nylas client configured like the service's, and close everything on exit.

    The API key comes from the one source the settings name (Secret Manager, a file or, in
    development, the value itself). It is refreshed in the background while the block runs,
    and again when Nylas rejects it, so a rotation during a long import takes effect.
    `transport` replaces the network, e.g. with the Nylas simulator. Raises `SecretLoadError`,
    naming the setting and the source, when the key cannot be loaded.
    """
    secret_manager = secret_manager_for(settings)
    try:
        api_key = build_nylas_api_key(settings, secret_manager)
        await api_key.load()
        refresh = asyncio.create_task(api_key.run_refresh_loop(), name="nylas-api-key-refresh")
        try:
            async with create_http_client(settings, transport=transport) as http:
                retry = RetryPolicy.from_settings(settings)
                yield NylasClient(http, api_key=api_key, retry=retry, observer=observer)
        finally:
            refresh.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await refresh
    finally:
        if secret_manager is not None:
            secret_manager.close()


def secret_manager_for(settings: Settings) -> SecretManagerAccess | None:
    """Return a Secret Manager client when any secret setting names a version, else None."""
    names = (
        settings.nylas_api_key_secret,
        settings.nylas_webhook_secret_secret,
        settings.caller_tokens_secret,
    )
    if not any(names):
        return None
    return SecretManagerAccess(
        endpoint=settings.secret_manager_endpoint, timeout=settings.secret_manager_timeout
    )


def build_nylas_api_key(
    settings: Settings, secret_manager: SecretManagerAccess | None
) -> RotatingSecret:
    """Return the API key holder for the one source the settings name; it is not loaded yet."""
    source = source_from_settings(
        setting=API_KEY_SETTING,
        value=settings.nylas_api_key,
        secret_name=settings.nylas_api_key_secret,
        file_path=settings.nylas_api_key_file,
        development=settings.is_development,
        secret_manager=secret_manager,
    )
    return RotatingSecret(
        API_KEY_SETTING,
        source,
        refresh_interval=settings.secret_refresh_interval,
        max_age=settings.secret_max_age,
        rejection_min_interval=settings.secret_rejection_refetch_interval,
    )
