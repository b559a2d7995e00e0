"""An in-memory Nylas v3 simulator for the operations grant-broker uses.

It serves `POST /v3/connect/custom` and `GET`/`PATCH`/`DELETE /v3/grants[/{grant_id}]` with
Nylas's shapes, errors and quirks: one grant per mailbox, final deletion, no `scope` on IMAP
and iCloud grants, camelCase query parameters silently ignored, 50 requests per second per
API group. Tests use it in-process through `NylasSimulator.transport()`, and the
`grant-broker simulator` command serves `NylasSimulator.app` with uvicorn.

Mailbox mapping
---------------
Nylas keeps one grant per mailbox (email, case-insensitive) and re-authenticates that grant
when new credentials for the mailbox arrive. The simulator decides which mailbox a set of
credentials belongs to with these rules, and the first rule that matches wins:

1. A credential bound through the control API (`bind_credential`) maps to its bound email.
   The credential is the refresh token for google, microsoft, yahoo and zoom, and the login
   name (`imap_username`, `username`, `ews_username`) for imap, icloud and ews.
2. A refresh token of the form `sim:<email>:<anything>` maps to `<email>`, for example
   `sim:alice@example.com:1` maps to `alice@example.com`.
3. Any other refresh token maps to `user-<h>@<domain>`, where `<h>` is the first 12 hex digits
   of SHA-256(`<provider>:<refresh token>`) and `<domain>` is `gmail.example.com`,
   `outlook.example.com`, `yahoo.example.com` or `zoom.example.com` for google, microsoft,
   yahoo and zoom.
4. imap maps to `imap_username` when it contains `@`, else to `<imap_username>@<imap_host>`
   (400 naming `settings.imap_host` when that is missing). icloud maps to `username`, and ews
   to `email`.

A credential bound with a password (rule 1) must come with that password. A credential revoked
through the control API (a refresh token, or an IMAP, iCloud or EWS login name or password)
is rejected. Both failures are 400 with `provider_error` `{"error": "invalid_grant"}`.

Not simulated: the tens of seconds by which Nylas's filtered grant listings can lag changes,
webhooks, and the other providers and bulk-authentication variants of `connect/custom`.
"""

from app.simulator.faults import ALL_OPERATIONS, OPERATIONS, SimulatedConnectionReset
from app.simulator.grants import GrantNotFoundError
from app.simulator.recorder import RecordedRequest
from app.simulator.simulator import DEFAULT_API_KEY, NylasSimulator
from app.simulator.transport import SimulatorTransport

__all__ = [
    "ALL_OPERATIONS",
    "DEFAULT_API_KEY",
    "OPERATIONS",
    "GrantNotFoundError",
    "NylasSimulator",
    "RecordedRequest",
    "SimulatedConnectionReset",
    "SimulatorTransport",
]
