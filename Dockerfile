# syntax=docker/dockerfile:1
# grant-broker image: the locked runtime dependencies in /app/.venv, the project installed in
# editable mode so that `grant-broker migrate` finds alembic.ini and alembic/ under /app.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm
# Matches the uv version that tasks.py installs for development.
ARG UV_IMAGE=ghcr.io/astral-sh/uv:0.13.9

FROM ${UV_IMAGE} AS uv

FROM ${PYTHON_IMAGE} AS build
COPY --from=uv /uv /usr/local/bin/uv
# Bytecode is compiled at build time, because the root filesystem is read-only at run time.
# Files are copied from the cache mount rather than hard-linked, and uv uses the base image's
# Python instead of downloading one.
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/app/.venv
WORKDIR /app

# Dependencies first, in their own layer: it is rebuilt only when the lock file changes.
COPY pyproject.toml uv.lock ./
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --locked --no-dev --no-install-project

COPY README.md alembic.ini ./
COPY alembic ./alembic
COPY app ./app
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --locked --no-dev \
    && python -m compileall -q /app/app /app/alembic

FROM ${PYTHON_IMAGE} AS runtime
# A fixed UID, so that Kubernetes can check runAsNonRoot and the chart can set runAsUser.
RUN groupadd --system --gid 10001 grant-broker \
    && useradd --system --uid 10001 --gid 10001 --no-create-home \
        --home-dir /nonexistent --shell /usr/sbin/nologin grant-broker

ENV PATH=/app/.venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
WORKDIR /app
# Root owns the files, so the service user can read but not change its own code.
COPY --from=build /app /app

USER 10001:10001
EXPOSE 8000
ENTRYPOINT ["/app/.venv/bin/grant-broker"]
CMD ["serve"]
