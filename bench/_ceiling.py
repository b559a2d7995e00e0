"""The ceiling of the lookup benchmark: a bare Starlette route that returns a constant JSON body.

    python -m bench._ceiling --port PORT

It runs under the same uvicorn configuration as `grant-broker serve` (one worker, proxy
headers, no log configuration), so the gap between it and the broker is the broker's own work:
identity check, database query, validation, logging and metrics.
"""

import argparse
import json

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

# The shape and size of a real lookup response, so both servers send the same bytes per request.
_BODY = json.dumps(
    {
        "user_id": "u-0000001",
        "grant_id": "grant-c4ca4238a0b923820dcc509a6f75849b",
        "provider": "microsoft",
        "email": "user1@example.com",
        "scopes": ["openid", "email", "profile"],
        "grant_status": "valid",
        "status_source": "registration",
        "status_checked_at": "2026-01-01T00:00:00Z",
        "status_changed_at": "2026-01-01T00:00:00Z",
    }
).encode()


async def constant_grant(request: Request) -> Response:
    return Response(_BODY, media_type="application/json")


async def livez(request: Request) -> Response:
    return Response(b'{"status":"ok"}', media_type="application/json")


app = Starlette(
    routes=[
        Route("/v1/users/{user_id}/grant", constant_grant),
        Route("/livez", livez),
    ]
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True, help="TCP port on 127.0.0.1.")
    args = parser.parse_args()
    # The same uvicorn arguments `grant-broker serve` passes by default.
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=args.port,
        workers=1,
        proxy_headers=True,
        forwarded_allow_ips="127.0.0.1,127.0.0.6",
        log_config=None,
        timeout_graceful_shutdown=25,
    )


if __name__ == "__main__":
    main()
