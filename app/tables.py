"""Imports every table module, so `SQLModel.metadata` describes the whole schema.

alembic's env.py and the migration test import this module.
"""

from app.events.models import GrantEvent
from app.grants.models import Grant, IdempotencyRecord
from app.status.models import Lease
from app.webhooks.models import WebhookDelivery

__all__ = ["Grant", "GrantEvent", "IdempotencyRecord", "Lease", "WebhookDelivery"]
