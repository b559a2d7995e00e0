"""API documentation pages that work without internet access."""

from app.docs.router import ASSETS_PATH, install_docs, router

__all__ = ["ASSETS_PATH", "install_docs", "router"]
