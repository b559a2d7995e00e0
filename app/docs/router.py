"""The `/docs` (Swagger UI) and `/redoc` pages, with their scripts and styles served by the app.

FastAPI's built-in pages load Swagger UI and ReDoc from a CDN, so they render blank in a network
without internet egress. These pages load the copies in `static/` instead, taken unchanged from
the npm packages `swagger-ui-dist` and `redoc` (versions below, licence files beside them).
"""

from pathlib import Path

from fastapi import APIRouter, FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

SWAGGER_UI_VERSION = "5.35.0"
REDOC_VERSION = "2.5.4"

ASSETS_PATH = "/docs-assets"
STATIC_DIRECTORY = Path(__file__).resolve().parent / "static"
_DEFAULT_OPENAPI_URL = "/openapi.json"

router = APIRouter(include_in_schema=False)


def install_docs(app: FastAPI) -> None:
    """Add the two documentation pages and the static files they load to `app`.

    The app must be created with `docs_url=None, redoc_url=None`, so that FastAPI's own
    CDN-based pages do not take the same paths first.
    """
    app.include_router(router)
    app.mount(ASSETS_PATH, StaticFiles(directory=STATIC_DIRECTORY), name="docs-assets")


def _root_path(request: Request) -> str:
    # Behind a proxy that strips a prefix (`grant-broker serve --root-path`), every URL the
    # browser loads must carry that prefix again.
    root_path: str = request.scope.get("root_path", "")
    return root_path.rstrip("/")


def _openapi_url(request: Request) -> str:
    return _root_path(request) + (request.app.openapi_url or _DEFAULT_OPENAPI_URL)


@router.get("/docs")
async def swagger_ui(request: Request) -> HTMLResponse:
    assets = _root_path(request) + ASSETS_PATH
    return get_swagger_ui_html(
        openapi_url=_openapi_url(request),
        title=f"{request.app.title} - Swagger UI",
        swagger_js_url=f"{assets}/swagger-ui/swagger-ui-bundle.js",
        swagger_css_url=f"{assets}/swagger-ui/swagger-ui.css",
        swagger_favicon_url=f"{assets}/swagger-ui/favicon-32x32.png",
        # The default online validator badge sends the document's URL to validator.swagger.io.
        swagger_ui_parameters={"validatorUrl": None},
    )


@router.get("/redoc")
async def redoc(request: Request) -> HTMLResponse:
    assets = _root_path(request) + ASSETS_PATH
    return get_redoc_html(
        openapi_url=_openapi_url(request),
        title=f"{request.app.title} - ReDoc",
        redoc_js_url=f"{assets}/redoc/redoc.standalone.js",
        redoc_favicon_url=f"{assets}/swagger-ui/favicon-32x32.png",
        with_google_fonts=False,
    )
