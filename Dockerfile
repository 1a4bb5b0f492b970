# Relay in one container: the web app and the dispatcher, on the embedded SQLite database in
# the `/app/var` volume, or on PostgreSQL with RELAY_DATABASE_URL.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN groupadd --system --gid 10001 relay \
    && useradd --system --uid 10001 --gid relay --home-dir /app --shell /usr/sbin/nologin relay

# Build from a scratch copy so /app holds only the state and the example client companies.
COPY pyproject.toml README.md /tmp/src/
COPY service /tmp/src/service
COPY templates /tmp/src/templates
RUN pip install --no-cache-dir /tmp/src && rm -rf /tmp/src

WORKDIR /app
COPY clients /app/clients
RUN mkdir -p /app/var && chown relay:relay /app/var
VOLUME ["/app/var"]

USER relay

ENV RELAY_HOST=0.0.0.0 \
    RELAY_PORT=8000
EXPOSE 8000

HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4).status != 200)"]

CMD ["sh", "-c", "relay db upgrade && exec relay serve"]
