# Production image: gunicorn (via `riskengine serve`) as a non-root user.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    RISKENGINE_MODELS_DIR=/app/models \
    RISKENGINE_DATABASE_URL=sqlite:////data/riskengine.db \
    RISKENGINE_HASH_KEY_FILE=/data/riskengine-hash.key

WORKDIR /app
COPY pyproject.toml README.md ./
COPY riskengine ./riskengine
COPY models ./models
RUN pip install --no-cache-dir . \
    && useradd --system --uid 10001 --home-dir /data riskengine \
    && mkdir -p /data && chown riskengine /data

USER riskengine
WORKDIR /data
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=3s CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2)"

# With PostgreSQL and several replicas, run `riskengine db upgrade` once as a release step
# and start the replicas with `riskengine serve` alone.
CMD ["sh", "-c", "riskengine db upgrade && exec riskengine serve --host 0.0.0.0 --port 8000"]
