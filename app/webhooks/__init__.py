"""Nylas webhooks: grant notifications that update the stored grant status.

`router` verifies each delivery's signature over the raw bytes, `service` records the envelope
id and applies the status change in one transaction, and `secrets` keeps the signing secrets
current. The app state must hold `webhook_secrets` (None when unconfigured), `webhook_stats`,
`mass_invalidation_guard`, `nylas` and `sessionmaker`.
"""
