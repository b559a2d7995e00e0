"""Single-flight: concurrent callers asking for the same key share one call."""

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class SingleFlight(Generic[T]):
    """Run at most one call per key at a time within this process.

    Callers that arrive while a call for their key runs wait for it and receive its result or
    its exception. Nothing is cached after the call ends.
    """

    def __init__(self) -> None:
        self._calls: dict[str, asyncio.Future[T]] = {}

    async def run(self, key: str, call: Callable[[], Awaitable[T]]) -> T:
        running = self._calls.get(key)
        if running is not None:
            return await asyncio.shield(running)

        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._calls[key] = future
        try:
            result = await call()
        except BaseException as exc:
            future.set_exception(exc)
            # Mark the exception retrieved, so a call nobody shared does not log a warning.
            future.exception()
            raise
        else:
            future.set_result(result)
            return result
        finally:
            del self._calls[key]
