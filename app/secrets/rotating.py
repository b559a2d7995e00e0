"""A secret kept current in memory, so that a rotated key takes effect without a restart."""

from __future__ import annotations

import asyncio
import hmac
import time
from collections.abc import Callable
from enum import Enum

import structlog
from pydantic import SecretStr

from app.secrets.errors import SecretLoadError, SecretLoadReason
from app.secrets.sources import SecretSource, SecretVersion

log = structlog.get_logger(__name__)


class _Outcome(Enum):
    CHANGED = "changed"
    UNCHANGED = "unchanged"
    FAILED = "failed"


class RotatingSecret:
    """The current value of one secret setting, refreshed from its source.

    Implements the Nylas client's `ApiKeyProvider`. A failed refresh keeps the last good value,
    so an outage of Secret Manager does not take the service down. `stale` turns true once no
    fetch has succeeded for `max_age` seconds. All fetches, periodic or caused by a rejected
    key, are single-flight, so concurrent callers wait for one fetch. Times are in seconds of
    `clock`.
    """

    def __init__(
        self,
        setting: str,
        source: SecretSource,
        *,
        refresh_interval: float,
        max_age: float,
        rejection_min_interval: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        for name, seconds in (
            ("refresh_interval", refresh_interval),
            ("max_age", max_age),
            ("rejection_min_interval", rejection_min_interval),
        ):
            if seconds <= 0:
                raise ValueError(f"{name} must be positive, got {seconds}")
        self.setting = setting
        self.source = source
        self._refresh_interval = refresh_interval
        self._max_age = max_age
        self._rejection_min_interval = rejection_min_interval
        self._clock = clock

        self._current: SecretVersion | None = None
        self._fetched_at: float | None = None
        self._fetch_task: asyncio.Task[_Outcome] | None = None
        self._last_rejection_fetch_at: float | None = None
        self._rejections_not_logged = 0
        self._consecutive_failures = 0
        self._last_error: SecretLoadError | None = None
        # Totals since start, for metrics: fetches that failed, succeeded, and changed the value.
        self.refresh_failures = 0
        self.refresh_successes = 0
        self.rotations = 0

    async def load(self) -> None:
        """Fetch the first value. Raises `SecretLoadError`, after which the service should exit."""
        try:
            fetched = await self.source.fetch()
        except SecretLoadError as exc:
            self._count_failure(exc)
            raise

        self._store(fetched)
        log.info(
            "secret.loaded",
            setting=self.setting,
            source=self.source.description,
            version=fetched.version,
        )

    def current(self) -> SecretStr:
        """Return the value to use now. Raises RuntimeError before `load` succeeded."""
        return self._loaded().value

    @property
    def version(self) -> str:
        """Name of the version in use, such as `projects/p/secrets/s/versions/7`."""
        return self._loaded().version

    @property
    def age(self) -> float:
        """Seconds since the last successful fetch, whether or not the value changed."""
        if self._fetched_at is None:
            raise RuntimeError(f"{self.setting} is not loaded yet: call load() first")
        return self._clock() - self._fetched_at

    @property
    def stale(self) -> bool:
        """Whether the last successful fetch is older than `max_age`, or never happened."""
        return self._fetched_at is None or self.age > self._max_age

    async def refresh(self) -> bool:
        """Fetch again and switch to the result when its version or value differs.

        Returns True when the value in use changed. On failure it keeps the last good value,
        counts and logs the failure, and returns False without raising.
        """
        return await self._fetch_once() is _Outcome.CHANGED

    async def refresh_after_rejection(self, rejected: SecretStr) -> bool:
        """Fetch again because the upstream rejected `rejected`, and tell whether to retry.

        Returns True when the value in use now differs from `rejected`. Concurrent callers
        share one fetch, and after a fetch for a rejection the next one waits at least
        `rejection_min_interval` seconds, so a revoked key cannot cause a storm of fetches.
        """
        if not self._in_use(rejected):
            return True
        if self._fetch_running():
            self._rejections_not_logged += 1
            await self._fetch_once()
            return not self._in_use(rejected)
        if not self._rejection_fetch_allowed():
            self._rejections_not_logged += 1
            return False

        self._last_rejection_fetch_at = self._clock()
        outcome = await self._fetch_once()
        if not self._in_use(rejected):
            return True
        if outcome is not _Outcome.FAILED:
            self._log_rejected_version_unchanged()
        return False

    async def run_refresh_loop(self) -> None:
        """Refresh every `refresh_interval` seconds until cancelled."""
        while True:
            await asyncio.sleep(self._refresh_interval)
            await self.refresh()

    def status(self) -> dict[str, object]:
        """Return the state for `/readyz` and logs, without the value."""
        loaded = self._current is not None
        return {
            "version": self._current.version if self._current else None,
            "age_seconds": round(self.age, 1) if loaded else None,
            "stale": self.stale,
            "consecutive_failures": self._consecutive_failures,
            "last_error": str(self._last_error) if self._last_error else None,
        }

    def __repr__(self) -> str:
        version = self._current.version if self._current else None
        return f"RotatingSecret(setting={self.setting!r}, version={version!r})"

    def _loaded(self) -> SecretVersion:
        if self._current is None:
            raise RuntimeError(f"{self.setting} is not loaded yet: call load() first")
        return self._current

    def _in_use(self, value: SecretStr) -> bool:
        if self._current is None:
            return False
        # Constant-time comparison, because `value` came from a request that failed.
        return hmac.compare_digest(
            self._current.value.get_secret_value().encode(), value.get_secret_value().encode()
        )

    def _fetch_running(self) -> bool:
        return self._fetch_task is not None and not self._fetch_task.done()

    def _rejection_fetch_allowed(self) -> bool:
        last = self._last_rejection_fetch_at
        return last is None or self._clock() - last >= self._rejection_min_interval

    async def _fetch_once(self) -> _Outcome:
        """Start a fetch, or join the one running, and return its outcome."""
        task = self._fetch_task
        if task is None or task.done():
            task = asyncio.create_task(self._fetch_and_store())
            self._fetch_task = task
        # Shielded, because a caller that is cancelled (its request timed out) must not cancel
        # the fetch that other callers are waiting for.
        return await asyncio.shield(task)

    async def _fetch_and_store(self) -> _Outcome:
        try:
            fetched = await self.source.fetch()
        except SecretLoadError as exc:
            self._count_failure(exc)
            self._log_failure(exc)
            return _Outcome.FAILED
        except Exception as exc:  # a bug in a source must not stop the refresh loop, so log it
            error = self._unexpected_error(exc)
            self._count_failure(error)
            self._log_failure(error)
            return _Outcome.FAILED

        return self._store(fetched)

    def _store(self, fetched: SecretVersion) -> _Outcome:
        previous = self._current
        changed = previous is None or previous.version != fetched.version
        changed = changed or not self._in_use(fetched.value)
        self._current = fetched
        self._fetched_at = self._clock()
        self._consecutive_failures = 0
        self._last_error = None
        self.refresh_successes += 1
        if previous is not None and changed:
            self.rotations += 1

        if previous is not None and changed:
            log.info(
                "secret.rotated",
                setting=self.setting,
                previous_version=previous.version,
                version=fetched.version,
            )
        return _Outcome.CHANGED if changed else _Outcome.UNCHANGED

    def _count_failure(self, error: SecretLoadError) -> None:
        self._consecutive_failures += 1
        self.refresh_failures += 1
        self._last_error = error

    def _unexpected_error(self, exc: Exception) -> SecretLoadError:
        # Only the type: the text of an unknown exception could quote anything.
        return SecretLoadError(
            setting=self.setting,
            source=self.source.description,
            reason=SecretLoadReason.FAILED,
            detail=type(exc).__name__,
        )

    def _log_failure(self, error: SecretLoadError) -> None:
        # No exc_info: some renderers print the locals of every frame in a traceback.
        stale = self.stale
        emit = log.error if stale else log.warning
        emit(
            "secret.refresh_failed",
            setting=self.setting,
            source=self.source.description,
            reason=str(error.reason),
            detail=error.detail,
            version_in_use=self._current.version if self._current else None,
            consecutive_failures=self._consecutive_failures,
            stale=stale,
        )

    def _log_rejected_version_unchanged(self) -> None:
        log.error(
            "secret.rejected_version_unchanged",
            setting=self.setting,
            source=self.source.description,
            version=self.version,
            rejections_not_logged=self._rejections_not_logged,
        )
        self._rejections_not_logged = 0
