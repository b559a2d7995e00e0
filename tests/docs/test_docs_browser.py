"""`/docs` and `/redoc` in headless Chromium with every request off loopback blocked.

Runs `grant-broker dev` as a real server and drives Debian's chromium package through
Playwright. Playwright's own browser download is never used.
"""

import os
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Route, expect, sync_playwright

from tests.process.servers import RunningCommand, clean_environment, free_port, run_command

CHROMIUM = Path("/usr/bin/chromium")
# Flags for Debian's chromium running as root in a container. The background-networking flags
# stop it from contacting Google on its own.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}
# ReDoc 2 shows the Redocly logo from its CDN and removes the image when it fails to load.
REDOC_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"
RENDER_TIMEOUT_MS = 30_000
USER_ID = "u-docs"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} is missing; install Debian's chromium package to run this test"
        if os.environ.get("CI") == "true":
            pytest.fail(reason + " (CI must run it)", pytrace=False)
        pytest.skip(reason)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def dev_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCommand]:
    port = free_port()
    with run_command(
        ["dev", "--port", str(port)],
        port=port,
        environment=clean_environment(),
        workdir=tmp_path_factory.mktemp("docs"),
    ) as running:
        yield running


@pytest.fixture(scope="module")
def grant_id(dev_server: RunningCommand) -> str:
    body = {
        "user_id": USER_ID,
        "provider": "google",
        "settings": {"refresh_token": "sim:docs@example.com:1"},
    }
    response = httpx.post(f"{dev_server.base_url}/v1/grants", json=body, timeout=30)
    response.raise_for_status()
    registered: str = response.json()["grant_id"]
    return registered


class OfflineContext:
    """A browser context whose requests to any host but loopback are aborted and recorded."""

    def __init__(self, browser: Browser) -> None:
        self.blocked: list[str] = []
        self.page_errors: list[str] = []
        self.context: BrowserContext = browser.new_context()
        self.context.route("**/*", self._route)

    def _route(self, route: Route) -> None:
        if urlsplit(route.request.url).hostname in LOOPBACK_HOSTS:
            route.continue_()
            return
        self.blocked.append(route.request.url)
        route.abort()

    def open(self, url: str) -> Page:
        page = self.context.new_page()
        page.on("pageerror", lambda error: self.page_errors.append(str(error)))
        page.goto(url)
        return page


@pytest.fixture
def offline(browser: Browser) -> Iterator[OfflineContext]:
    context = OfflineContext(browser)
    yield context
    context.context.close()


def _operation_ids(base_url: str) -> list[str]:
    document = httpx.get(f"{base_url}/openapi.json", timeout=10).json()
    return [
        f"{operation['tags'][0]}-{operation['operationId']}"
        for path_item in document["paths"].values()
        for operation in path_item.values()
    ]


def _try_user_lookup(page: Page) -> None:
    operation = page.locator("#operations-grants-get_user_grant")
    operation.locator(".opblock-summary-control").click()
    operation.locator(".try-out__btn").click()
    operation.locator('input[placeholder="user_id"]').fill(USER_ID)
    operation.locator(".execute").click()


def test_swagger_ui_offline(
    dev_server: RunningCommand, grant_id: str, offline: OfflineContext
) -> None:
    page = offline.open(f"{dev_server.base_url}/docs")
    for operation_id in _operation_ids(dev_server.base_url):
        expect(page.locator(f"#operations-{operation_id}")).to_be_visible(timeout=RENDER_TIMEOUT_MS)

    _try_user_lookup(page)
    result = page.locator("#operations-grants-get_user_grant .live-responses-table tbody")

    expect(result.locator(".response-col_status")).to_have_text("200")
    expect(result.locator(".response-col_description pre").first).to_contain_text(grant_id)
    assert offline.blocked == []
    assert offline.page_errors == []


def test_redoc_offline(dev_server: RunningCommand, offline: OfflineContext) -> None:
    page = offline.open(f"{dev_server.base_url}/redoc")
    for operation_id in _operation_ids(dev_server.base_url):
        section = page.locator(f'[data-section-id="operation/{operation_id.split("-", 1)[1]}"]')
        expect(section).to_be_attached(timeout=RENDER_TIMEOUT_MS)

    expect(page.get_by_role("heading", name="Look up a user's grant")).to_be_visible()
    assert [url for url in offline.blocked if url != REDOC_LOGO] == []
    assert offline.page_errors == []
