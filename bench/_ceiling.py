"""The ceilings of the lookup benchmark: routes that return a constant JSON body.

    python -m bench._ceiling --port PORT [--framework starlette|fastapi] [--workers N]

`starlette` is a bare Starlette route, the ceiling for this machine. `fastapi` is the same route
in an empty FastAPI app, with the path parameter validated as the broker's is: the most any
FastAPI route can do here, so the gap between it and the broker is the broker's own work
(identity check, database query, logging and metrics). Both run under the same uvicorn
configuration as `grant-broker serve` (proxy headers, no log configuration).
"""

import argparse
import json
from typing import Annotated

import uvicorn
from fastapi import FastAPI, Path
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app.grants.schemas import USER_ID_PATTERN

# The shape and size of a real lookup response, so every server sends the same bytes.
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


starlette_app = Starlette(
    routes=[
        Route("/v1/users/{user_id}/grant", constant_grant),
        Route("/livez", livez),
    ]
)

fastapi_app = FastAPI()
fastapi_app.add_api_route("/livez", livez)


@fastapi_app.get("/v1/users/{user_id}/grant")
async def fastapi_constant_grant(
    user_id: Annotated[str, Path(pattern=USER_ID_PATTERN)],
) -> Response:
    return Response(_BODY, media_type="application/json")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True, help="TCP port on 127.0.0.1.")
    parser.add_argument("--framework", choices=["starlette", "fastapi"], default="starlette")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes.")
    args = parser.parse_args()
    # The same uvicorn arguments `grant-broker serve` passes by default. Several workers need
    # the app as an import string, which each worker process imports itself.
    uvicorn.run(
        f"bench._ceiling:{args.framework}_app",
        host="127.0.0.1",
        port=args.port,
        workers=args.workers,
        proxy_headers=True,
        forwarded_allow_ips="127.0.0.1,127.0.0.6",
        log_config=None,
        timeout_graceful_shutdown=25,
    )


if __name__ == "__main__":
    main()
