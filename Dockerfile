# PayLinks bot: docker build -t paylinks-bot . && docker run -e TELEGRAM_BOT_TOKEN=… paylinks-bot
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    BOT_DATA_DIR=/data \
    PAYLINKS_LOCALES_DIR=/app/locales

WORKDIR /app
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY handlers ./handlers
COPY locales ./locales
RUN pip install . \
    && useradd --system --uid 10001 --home-dir /app paylinks \
    && mkdir -p /data && chown paylinks /data

USER paylinks
VOLUME ["/data"]
# 8000: the webhook (WEBHOOK_URL set; PORT, WEBHOOK_LISTEN=0.0.0.0; compose.yaml);
# 8765: the sandbox (--sandbox); 8080: the demo's web chat
# (docker run --rm -p 8080:8080 --no-healthcheck paylinks-bot demo --host 0.0.0.0 --allow-remote)
EXPOSE 8000 8765 8080

# Healthy while the bot's event loop keeps touching its heartbeat file (every 30 s), in long
# polling and webhook mode alike; a proxy in front of webhook replicas asks GET /healthz.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["paylinks-bot", "health"]

ENTRYPOINT ["paylinks-bot"]
