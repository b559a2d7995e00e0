"""`grant-broker serve` behind a proxy: forwarded headers from allowed addresses, a root path."""

import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.process.conftest import make_broker_environment
from tests.process.servers import RunningCommand, free_port, run_command

ROOT_PATH = "/grant-broker"
FORWARDED = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.7"}
# A documentation address (RFC 5737). No request is sent to it: it only differs from 127.0.0.1.
OTHER_PROXY = "192.0.2.10"


def _serve(
    simulator: RunningCommand, tmp_path_factory: pytest.TempPathFactory, allowed: str
) -> Iterator[RunningCommand]:
    workdir = tmp_path_factory.mktemp("proxy")
    port = free_port()
    arguments = ["serve", "--host", "127.0.0.1", "--port", str(port)]
    arguments += ["--root-path", ROOT_PATH, "--forwarded-allow-ips", allowed]
    environment = make_broker_environment(simulator, workdir)
    with run_command(arguments, port=port, environment=environment, workdir=workdir) as broker:
        yield broker


@pytest.fixture(scope="module")
def behind_proxy(
    simulator: RunningCommand, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningCommand]:
    """The broker trusting forwarded headers from 127.0.0.1, where the tests connect from."""
    yield from _serve(simulator, tmp_path_factory, "127.0.0.1")


@pytest.fixture(scope="module")
def behind_other_proxy(
    simulator: RunningCommand, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningCommand]:
    """The broker trusting forwarded headers only from an address the tests never use."""
    yield from _serve(simulator, tmp_path_factory, OTHER_PROXY)


def _request_log_line(broker: RunningCommand, request_id: str) -> dict[str, Any]:
    # The line is written after the response is sent, so it may trail the response a little.
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        for line in broker.log_lines():
            if line.get("event") == "http.request" and line.get("request_id") == request_id:
                return line
        time.sleep(0.05)
    raise AssertionError(f"no http.request log line for request {request_id}")


def _get_livez(broker: RunningCommand, path: str = "/livez") -> tuple[httpx.Response, str]:
    request_id = uuid.uuid4().hex
    headers = {**FORWARDED, "X-Request-Id": request_id}
    return httpx.get(broker.base_url + path, headers=headers, timeout=10), request_id


def test_forwarded_proto_trusted(behind_proxy: RunningCommand) -> None:
    # Starlette redirects a path with a trailing slash to an absolute URL built from the scheme.
    response, _ = _get_livez(behind_proxy, "/livez/")

    assert response.status_code == 307
    assert response.headers["location"].startswith("https://")
    assert response.headers["location"].endswith(f"{ROOT_PATH}/livez")


def test_forwarded_for_trusted(behind_proxy: RunningCommand) -> None:
    response, request_id = _get_livez(behind_proxy)

    assert response.status_code == 200
    assert _request_log_line(behind_proxy, request_id).get("client_ip") == "203.0.113.7"


def test_forwarded_proto_untrusted(behind_other_proxy: RunningCommand) -> None:
    response, _ = _get_livez(behind_other_proxy, "/livez/")

    assert response.status_code == 307
    assert response.headers["location"].startswith("http://127.0.0.1:")


def test_forwarded_for_untrusted(behind_other_proxy: RunningCommand) -> None:
    response, request_id = _get_livez(behind_other_proxy)

    assert response.status_code == 200
    assert _request_log_line(behind_other_proxy, request_id).get("client_ip") == "127.0.0.1"


def test_root_path_location(behind_proxy: RunningCommand) -> None:
    body = {
        "user_id": "u-proxy",
        "provider": "google",
        "settings": {"refresh_token": "sim:proxy@example.com:1"},
    }
    response = httpx.post(f"{behind_proxy.base_url}/v1/grants", json=body, timeout=10)

    assert response.status_code == 201, response.text
    assert response.headers["location"] == f"{ROOT_PATH}/v1/users/u-proxy/grant"


def test_root_path_openapi_servers(behind_proxy: RunningCommand) -> None:
    # Swagger UI's "Try it out" sends requests to this server URL, so without it the calls
    # would miss the prefix the proxy expects.
    document = httpx.get(f"{behind_proxy.base_url}/openapi.json", timeout=10).json()

    assert document.get("servers") == [{"url": ROOT_PATH}]


def test_root_path_docs_assets(behind_proxy: RunningCommand) -> None:
    page = httpx.get(f"{behind_proxy.base_url}/docs", timeout=10).text
    script = f"{ROOT_PATH}/docs-assets/swagger-ui/swagger-ui-bundle.js"
    unprefixed_script = script.removeprefix(ROOT_PATH)
    asset = httpx.get(behind_proxy.base_url + unprefixed_script, timeout=10)

    assert f"'{ROOT_PATH}/openapi.json'" in page
    assert f'"{script}"' in page
    assert asset.status_code == 200
    assert "SwaggerUIBundle" in asset.text
