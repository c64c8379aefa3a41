# Image for the canonical example app; docker-compose.yml runs it next to Redis and MongoDB.
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN useradd --create-home --uid 1000 panther
WORKDIR /app

# Dependencies first, so editing an example does not reinstall them. README.m[d] keeps the build working
# while the readme is absent (a pattern that matches nothing is skipped).
COPY pyproject.toml README.m[d] ./
COPY panther ./panther
RUN pip install '.[full]'

COPY examples ./examples
# The app writes its SQLite database and logs/ into the working directory; /app/data is where docker-compose.yml
# mounts the blog's uploads volume (a new volume takes this directory's owner).
RUN mkdir -p /app/data && chown -R panther:panther /app
USER panther

EXPOSE 8000
# `panther run` serves with production limits unless told otherwise (docs/deploy.md): request line and headers
# at most 32 KiB (431), a request head within 10 s (408), idle keep-alive connections closed after 5 s, at most
# 1000 connections per worker (503). Change them by appending flags, e.g. `--header-timeout 30`; put a reverse
# proxy in front for TLS, request-body rate limits and client-address headers.
CMD ["panther", "run", "examples.canonical.main:app", "--host", "0.0.0.0", "--port", "8000"]
