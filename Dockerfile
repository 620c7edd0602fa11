# Production image: gunicorn (via `riskengine serve`) as a non-root user.
# The models, the bundled policy and the migrations are package data inside the wheel:
# nothing is copied beside it (CI builds the same wheel and smoke-tests it: scripts/smoke.sh).

FROM python:3.11-slim AS wheel
WORKDIR /src
COPY pyproject.toml README.md ./
COPY riskengine ./riskengine
RUN pip install --no-cache-dir --upgrade pip \
    && pip wheel --no-cache-dir --no-deps -w /wheels .

FROM python:3.11-slim

# /data holds everything the container must keep: the SQLite database and the generated hash
# key (back them up together; with PostgreSQL set RISKENGINE_DATABASE_URL and
# RISKENGINE_HASH_KEY instead). RISKENGINE_WORKERS: gunicorn worker processes; the host's CPU
# count says nothing about the container's CPU limit, so set it to the cores you give it.
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    RISKENGINE_DATABASE_URL=sqlite:////data/riskengine.db \
    RISKENGINE_HASH_KEY_FILE=/data/riskengine-hash.key \
    RISKENGINE_WORKERS=2

COPY --from=wheel /wheels /tmp/wheels
RUN pip install --no-cache-dir --upgrade pip \
    && pip install --no-cache-dir /tmp/wheels/*.whl \
    && rm -rf /tmp/wheels \
    && useradd --system --uid 10001 --home-dir /data riskengine \
    && mkdir -p /data && chown riskengine /data

# After the chown: a new volume starts with /data's ownership from the image.
VOLUME /data
USER riskengine
WORKDIR /data
EXPOSE 8000

# Ready, not merely alive: /readyz answers 503 while the model, a GeoIP file or the database
# is missing (urlopen raises on it, so the check fails).
HEALTHCHECK --interval=15s --timeout=3s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/readyz', timeout=2)"]

# With PostgreSQL and several replicas, run `riskengine db upgrade` once as a release step
# and start the replicas with `riskengine serve` alone.
CMD ["sh", "-c", "riskengine db upgrade && exec riskengine serve --host 0.0.0.0 --port 8000 --workers \"${RISKENGINE_WORKERS:-2}\""]
