# relance: the daemon (scheduler + inbox listener + web UI) in one container.
#   docker build -t relance .
#   docker run -p 127.0.0.1:8000:8000 -v relance-data:/data relance relance demo --host 0.0.0.0   # try it
#   docker run -p 127.0.0.1:8000:8000 -v relance-data:/data --env-file relance.env relance       # for real
# See docker-compose.example.yml for PostgreSQL, IMAP/SMTP settings and secrets.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
# Dependencies first, so editing the code does not reinstall them.
COPY pyproject.toml README.md ./
COPY bot ./bot
RUN pip install ".[postgres]"
# Shipped profiles and templates; mount your own over /app/config and /app/templates to change them.
COPY config ./config
COPY templates ./templates

RUN groupadd --system --gid 10001 relance \
    && useradd --system --uid 10001 --gid relance --home-dir /data --shell /usr/sbin/nologin relance \
    && mkdir -p /data \
    && chown relance:relance /data

# Everything relance writes lives on the /data volume: the SQLite database (when no PostgreSQL URL is
# given), the local outbox and Maildir (when no SMTP/IMAP host is set), and the demo folder.
ENV RELANCE_DATABASE_URL=sqlite:////data/relance.sqlite3 \
    RELANCE_CONFIG_DIR=/app/config \
    RELANCE_TEMPLATES_DIR=/app/templates \
    RELANCE_OUTBOX_DIR=/data/outbox \
    RELANCE_MAILDIR=/data/maildir \
    RELANCE_WEB_HOST=0.0.0.0 \
    RELANCE_WEB_PORT=8000
VOLUME ["/data"]
WORKDIR /data
USER relance
EXPOSE 8000

# No curl in the slim image: Python's urllib does the probe (an HTTP error or refused connection exits 1).
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('RELANCE_WEB_PORT', '8000'), timeout=4)"]

# relance stops within 10 s of SIGTERM (docker stop waits 10 s by default before SIGKILL).
STOPSIGNAL SIGTERM
CMD ["relance", "run"]
