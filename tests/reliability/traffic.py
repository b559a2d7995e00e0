"""Mixed traffic for soak tests and the memory benchmark: every public route, every outcome checked.

Each worker walks one user through a full life cycle again and again. The steps: register, look
up, look up by grant id, re-register with an idempotency key, check the status with Nylas, list,
read events, replace the mailbox, offboard, and look up once more (404). Every response is compared
with the status the step expects, so a run reports its errors instead of just counting them.

    python -m tests.reliability.traffic --url http://127.0.0.1:8000 --duration 300 [--workers 8]
                                        [--xfcc HEADER] [--prefix soak]

prints one JSON summary line. The broker's Nylas must accept any `sim:` refresh token (the
simulator) and must not rate-limit the run.
"""

import argparse
import asyncio
import itertools
import json
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx

MAX_RECORDED_ERRORS = 50
REQUEST_TIMEOUT_SECONDS = 30.0


@dataclass
class TrafficReport:
    """Requests sent, by step, and the unexpected responses (the first fifty in full)."""

    requests: Counter[str] = field(default_factory=Counter)
    error_count: int = 0
    errors: list[str] = field(default_factory=list)
    cycles: int = 0
    seconds: float = 0.0

    def record_error(self, step: str, detail: str) -> None:
        self.error_count += 1
        if len(self.errors) < MAX_RECORDED_ERRORS:
            self.errors.append(f"{step}: {detail}")

    def to_json(self) -> dict[str, object]:
        return {
            "requests": sum(self.requests.values()),
            "requests_by_step": dict(self.requests),
            "cycles": self.cycles,
            "errors": self.error_count,
            "error_samples": self.errors,
            "seconds": round(self.seconds, 1),
        }


class MixedTraffic:
    """Runs `workers` concurrent user life cycles against one broker until a deadline."""

    def __init__(self, http: httpx.AsyncClient, *, workers: int = 8, prefix: str = "soak") -> None:
        self.http = http
        self.workers = workers
        self.prefix = prefix
        self.report = TrafficReport()
        self._numbers: Iterator[int] = itertools.count()
        self._event_cursor = "0"

    async def run(self, duration: float) -> TrafficReport:
        """Send traffic for `duration` seconds, then let the cycles in flight finish."""
        started = time.monotonic()
        deadline = started + duration
        await asyncio.gather(*(self._worker(deadline) for _ in range(self.workers)))
        self.report.seconds = time.monotonic() - started
        return self.report

    async def _worker(self, deadline: float) -> None:
        while time.monotonic() < deadline:
            await self.cycle(next(self._numbers))
            self.report.cycles += 1

    async def cycle(self, number: int) -> None:
        """Walk user `PREFIX-NUMBER` through its whole life cycle once."""
        user_id = f"{self.prefix}-{number}"
        first = self._registration(user_id, f"{user_id}@example.com")
        second = self._registration(user_id, f"{user_id}@example.org")

        grant = await self._expect("register", "POST", "/v1/grants", 201, json=first)
        if grant is None:
            return
        await self._expect("lookup", "GET", f"/v1/users/{user_id}/grant", 200)
        await self._expect("reverse_lookup", "GET", f"/v1/grants/{grant['grant_id']}", 200)
        key = {"Idempotency-Key": f"{user_id}-again"}
        await self._expect("reauthenticate", "POST", "/v1/grants", 200, json=first, headers=key)
        await self._expect("live_check", "GET", f"/v1/users/{user_id}/grant/status?max_age=0", 200)
        await self._expect("list", "GET", "/v1/grants?limit=20", 200)
        await self._read_events()
        await self._expect("replace", "POST", "/v1/grants", 200, json=second)
        await self._expect("offboard", "DELETE", f"/v1/users/{user_id}/grant", 204)
        await self._expect("lookup_after_offboard", "GET", f"/v1/users/{user_id}/grant", 404)

    def _registration(self, user_id: str, mailbox: str) -> dict[str, object]:
        return {
            "user_id": user_id,
            "provider": "google",
            "settings": {"refresh_token": f"sim:{mailbox}:1"},
        }

    async def _read_events(self) -> None:
        page = await self._expect("events", "GET", f"/v1/events?after={self._event_cursor}", 200)
        if page is not None:
            self._event_cursor = str(page["next_cursor"])

    async def _expect(
        self,
        step: str,
        method: str,
        path: str,
        status: int,
        *,
        json: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
    ) -> dict[str, object] | None:
        """Send one request; return its JSON body when the status is `status`, else None."""
        self.report.requests[step] += 1
        try:
            response = await self.http.request(method, path, json=json, headers=headers)
        except httpx.HTTPError as exc:
            self.report.record_error(step, f"{type(exc).__name__} on {method} {path}")
            return None
        if response.status_code != status:
            detail = f"{method} {path} returned {response.status_code}, expected {status}: "
            self.report.record_error(step, detail + response.text[:300])
            return None
        body: dict[str, object] = response.json() if response.content else {}
        return body


async def run_traffic(
    url: str, *, duration: float, workers: int, xfcc: str | None, prefix: str
) -> TrafficReport:
    headers = {"X-Forwarded-Client-Cert": xfcc} if xfcc else {}
    limits = httpx.Limits(max_connections=workers, max_keepalive_connections=workers)
    async with httpx.AsyncClient(
        base_url=url, headers=headers, limits=limits, timeout=REQUEST_TIMEOUT_SECONDS
    ) as http:
        return await MixedTraffic(http, workers=workers, prefix=prefix).run(duration)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True, help="Base URL of the broker.")
    parser.add_argument("--duration", type=float, default=300, help="Seconds of traffic.")
    parser.add_argument("--workers", type=int, default=8, help="Concurrent user life cycles.")
    parser.add_argument("--xfcc", default=None, help="X-Forwarded-Client-Cert header to send.")
    parser.add_argument("--prefix", default="soak", help="Prefix of the user ids.")
    args = parser.parse_args()
    report = asyncio.run(
        run_traffic(
            args.url,
            duration=args.duration,
            workers=args.workers,
            xfcc=args.xfcc,
            prefix=args.prefix,
        )
    )
    print(json.dumps(report.to_json()), flush=True)


if __name__ == "__main__":
    main()
