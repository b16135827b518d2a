# MintGuard image: gunicorn serving Django (static files by WhiteNoise) by default; the same image
# runs the task worker with `python manage.py run_worker` (compose.yaml's `worker` service).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN useradd --system --user-group --home-dir /app --no-create-home mintguard

WORKDIR /app

# Dependencies first, so a code change does not reinstall them.
COPY requirements.txt ./
RUN pip install -r requirements.txt

# Code stays owned by root: the app user cannot modify what it runs.
COPY . .
# With DEBUG off (as in production, so the static manifest is built) settings refuse to load
# without secrets: these placeholders exist for this step only, not in the image's environment.
RUN SECRET_KEY=build-only MINTGUARD_PROVIDER_WEBHOOK_SECRET=build-only-placeholder-24-bytes \
        MINTGUARD_METRICS_TOKEN=build-only MINTGUARD_PAYMENT_PROVIDER=simulator \
        MINTGUARD_ENCRYPTION_KEYS=YnVpbGQtb25seS1wbGFjZWhvbGRlci0zMi1ieXRlcyE= \
        python manage.py collectstatic --noinput \
    && mkdir -p var && chown mintguard:mintguard var

USER mintguard
EXPOSE 8000

# The entrypoint applies migrations, then execs the command; exec keeps gunicorn as PID 1 so
# `docker stop` reaches it and it shuts down gracefully.
ENTRYPOINT ["/app/scripts/docker-entrypoint.sh"]
# Workers, bind, timeouts and multi-process metrics come from gunicorn.conf.py (WEB_CONCURRENCY overrides).
CMD ["gunicorn", "mintguard_site.wsgi:application"]
