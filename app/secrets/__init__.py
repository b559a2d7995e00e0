"""Secret settings loaded from Google Secret Manager, a file or (development only) a plain value,
kept current so that a rotated key takes effect without a restart.

Exceptions: `SecretLoadError` for a setting that cannot be loaded (its `reason` is a
`SecretLoadReason`); `SecretAccessError` from `SecretManagerAccess.access`, which sources turn
into `SecretLoadError`.
"""

from app.secrets.errors import SecretAccessError, SecretLoadError, SecretLoadReason
from app.secrets.rotating import RotatingSecret
from app.secrets.secret_manager import SecretManagerAccess
from app.secrets.selection import source_from_settings
from app.secrets.sources import (
    FileSource,
    PlainValueSource,
    SecretManagerSource,
    SecretSource,
    SecretVersion,
)

__all__ = [
    "FileSource",
    "PlainValueSource",
    "RotatingSecret",
    "SecretAccessError",
    "SecretLoadError",
    "SecretLoadReason",
    "SecretManagerAccess",
    "SecretManagerSource",
    "SecretSource",
    "SecretVersion",
    "source_from_settings",
]
