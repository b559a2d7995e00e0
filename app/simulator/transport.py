"""An httpx transport that runs the simulator in-process but fails like a network would."""

import asyncio

import httpx
from starlette.types import ASGIApp

from app.simulator.faults import SimulatedConnectionReset

# The client address of in-process requests, which the simulator records as the grant's `ip`.
DEFAULT_CLIENT_ADDRESS = ("127.0.0.1", 50000)


class SimulatorTransport(httpx.AsyncBaseTransport):
    """Wrap `httpx.ASGITransport` so that timeouts and dropped connections reach the client.

    `httpx.ASGITransport` ignores timeouts and re-raises app exceptions. This transport bounds
    each request by its read timeout (`request.extensions["timeout"]["read"]`) and raises
    `httpx.ReadTimeout` past it, and turns a simulated connection reset into `httpx.ReadError`.
    """

    def __init__(
        self, app: ASGIApp, *, client_address: tuple[str, int] = DEFAULT_CLIENT_ADDRESS
    ) -> None:
        self._asgi = httpx.ASGITransport(app=app, client=client_address)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        try:
            async with asyncio.timeout(_read_timeout(request)):
                return await self._asgi.handle_async_request(request)
        except TimeoutError:
            raise httpx.ReadTimeout("timed out waiting for the response", request=request) from None
        except SimulatedConnectionReset as exc:
            raise httpx.ReadError("connection reset by peer", request=request) from exc

    async def aclose(self) -> None:
        await self._asgi.aclose()


def _read_timeout(request: httpx.Request) -> float | None:
    timeouts = request.extensions.get("timeout", {})
    read = timeouts.get("read")
    return float(read) if read is not None else None
