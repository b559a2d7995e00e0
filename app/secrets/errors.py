"""Errors raised while loading a secret setting. No message ever contains a secret value."""

from __future__ import annotations

from enum import StrEnum


class SecretLoadReason(StrEnum):
    """Cause of a failed secret load, in the words an operator searches for."""

    NOT_CONFIGURED = "not configured"
    CONFLICTING_SETTINGS = "conflicting settings"
    PLAIN_VALUE_REJECTED = "plain value not allowed outside development"
    INVALID_SECRET_NAME = "invalid secret name"  # noqa: S105 (a message, not a password)
    INVALID_FILE_PATH = "invalid file path"
    NOT_FOUND = "not found"
    PERMISSION_DENIED = "permission denied"
    UNAUTHENTICATED = "unauthenticated"
    NO_CREDENTIALS = "no credentials"
    DISABLED_OR_DESTROYED = "disabled or destroyed version"
    INVALID_REQUEST = "invalid request"
    UNAVAILABLE = "unavailable"
    UNREACHABLE = "unreachable"
    TIMED_OUT = "timed out"
    CHECKSUM_MISMATCH = "checksum mismatch"
    NOT_UTF8 = "not valid UTF-8"
    EMPTY_VALUE = "empty value"
    EMPTY_FILE = "empty file"
    IS_A_DIRECTORY = "is a directory"
    UNREADABLE = "unreadable"
    FAILED = "failed"


# Next step for the operator, appended to the message.
_HINTS: dict[SecretLoadReason, str] = {
    SecretLoadReason.NOT_FOUND: "Check the project, secret and version in the name.",
    SecretLoadReason.PERMISSION_DENIED: (
        "Grant roles/secretmanager.secretAccessor on this secret to the service's identity."
    ),
    SecretLoadReason.UNAUTHENTICATED: "Check the service's Workload Identity binding.",
    SecretLoadReason.NO_CREDENTIALS: (
        "Run with Application Default Credentials (GKE Workload Identity) or use a file source."
    ),
    SecretLoadReason.DISABLED_OR_DESTROYED: (
        "Enable the version, or add a new version so that `latest` points to an enabled one."
    ),
    SecretLoadReason.UNAVAILABLE: (
        "Secret Manager returned a server error. The next refresh or restart tries again."
    ),
    SecretLoadReason.UNREACHABLE: "Check the endpoint and the network path to Secret Manager.",
    SecretLoadReason.TIMED_OUT: "Check Secret Manager's latency and the timeout setting.",
    SecretLoadReason.CHECKSUM_MISMATCH: "The payload was corrupted in transit. Try again.",
    SecretLoadReason.EMPTY_VALUE: "Add a version that contains the value.",
    SecretLoadReason.EMPTY_FILE: "Write the value into the file or mount the right secret.",
}


class SecretLoadError(Exception):
    """A secret setting could not be loaded from its source.

    `setting` is the environment variable base name (GRANT_BROKER_NYLAS_API_KEY), `source` the
    description of where the value was read from, and `reason` one `SecretLoadReason`.
    """

    def __init__(
        self,
        *,
        setting: str,
        source: str,
        reason: SecretLoadReason,
        detail: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.setting = setting
        self.source = source
        self.reason = reason
        self.detail = detail
        super().__init__(self._message(hint or _HINTS.get(reason)))

    def _message(self, hint: str | None) -> str:
        message = f"{self.setting} could not be loaded from {self.source}: {self.reason}"
        if self.detail:
            message += f" ({self.detail})"
        return f"{message}. {hint}" if hint else message


class SecretAccessError(Exception):
    """Secret Manager did not return a usable payload for one access request.

    Raised by `SecretManagerAccess.access`. The message contains the reason and the HTTP status or
    error type, never a payload.
    """

    def __init__(self, reason: SecretLoadReason, detail: str | None = None) -> None:
        self.reason = reason
        self.detail = detail
        super().__init__(f"{reason} ({detail})" if detail else str(reason))
