"""Gunicorn settings for MintGuard (gunicorn reads ./gunicorn.conf.py by itself).

    gunicorn mintguard_site.wsgi:application

Environment:
    GUNICORN_BIND        address to listen on (default 0.0.0.0:$PORT, PORT defaulting to 8000)
    WEB_CONCURRENCY      worker processes (default 2 x CPU cores + 1, at most 12)
    GUNICORN_TIMEOUT     seconds a request may take before its worker is killed (default 30)
    GUNICORN_ACCESS_LOG  "-" to also write gunicorn's access log (JSON) to stdout; off by default
                         because the app logs every request itself, with its route and API client
    FORWARDED_ALLOW_IPS  proxies whose X-Forwarded-* headers gunicorn trusts (default 127.0.0.1,::1)
    PROMETHEUS_MULTIPROC_DIR  where workers write their metrics; default: a private temporary
                         directory, created here and removed when gunicorn exits

Metrics with several workers: each worker writes its samples to files in PROMETHEUS_MULTIPROC_DIR
and /metrics (answered by whichever worker) sums them all. The directory must be set before any
worker imports prometheus_client, so it is set here, in the master, at import; it is emptied when
gunicorn starts (stale files from a previous run would count twice) and a dead worker's live
gauges are dropped in child_exit.
"""

import json
import multiprocessing
import os
import shutil
import tempfile

_created_metrics_dir = False
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    # Config reloads (SIGHUP) re-read this file: the variable is set by then, so the dir stays.
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="mintguard-metrics-")
    _created_metrics_dir = True
METRICS_DIR = os.environ["PROMETHEUS_MULTIPROC_DIR"]

wsgi_app = "mintguard_site.wsgi:application"
bind = [os.environ.get("GUNICORN_BIND") or f"0.0.0.0:{os.environ.get('PORT', '8000')}"]
workers = int(os.environ.get("WEB_CONCURRENCY") or min(2 * multiprocessing.cpu_count() + 1, 12))
worker_class = "sync"
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "30"))
keepalive = 5
# Recycle workers now and then so a slow leak cannot grow forever; jitter avoids a herd.
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "10000"))
max_requests_jitter = max_requests // 10
# Heartbeat files on tmpfs: a container's overlay disk can stall workers into timeouts.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None  # noqa: S108  # nosec B108
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")
# Gunicorn's control socket lives in $HOME by default: unwritable for the container's user and
# shared by every gunicorn of one user. Nothing here uses it.
control_socket_disable = True

# Gunicorn's access log, one JSON object per line. Off unless GUNICORN_ACCESS_LOG is "-" (stdout)
# or a file path: the app's own request log line already says all this and more.
_access_log = os.environ.get("GUNICORN_ACCESS_LOG", "").strip()
accesslog = _access_log or None
access_log_format = json.dumps({
    "ts": "%(t)s",
    "logger": "gunicorn.access",
    "remote_ip": "%(h)s",
    "method": "%(m)s",
    "path": "%(U)s",
    "status": "%(s)s",
    "bytes": "%(B)s",
    "duration_ms": "%(M)s",
    "request_id": "%({x-request-id}o)s",
    "user_agent": "%(a)s",
})
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()
if _access_log in ("", "-"):
    _access_handler = {"class": "logging.StreamHandler", "stream": "ext://sys.stdout"}
else:
    _access_handler = {"class": "logging.FileHandler", "filename": _access_log}
# Gunicorn's own lines (worker boots, timeouts) as JSON too, like the app's. With a logconfig_dict
# gunicorn always emits access lines, so the access logger's level is what switches them off.
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "mintguard_site.observability.logs.JsonFormatter"}},
    "handlers": {
        "error": {"class": "logging.StreamHandler", "stream": "ext://sys.stderr", "formatter": "json"},
        "access": _access_handler,
    },
    # Django's LOGGING configures the root logger in each worker; the master logs through these.
    "root": {"level": "INFO", "handlers": ["error"]},
    "loggers": {
        "gunicorn.error": {"handlers": ["error"], "level": loglevel.upper(), "propagate": False},
        "gunicorn.access": {
            "handlers": ["access"], "level": "INFO" if _access_log else "WARNING", "propagate": False,
        },
    },
}


def on_starting(server):
    """Empty the metrics directory: files left by a previous run would be summed as live."""
    os.makedirs(METRICS_DIR, exist_ok=True)
    for entry in os.scandir(METRICS_DIR):
        if entry.is_file() and entry.name.endswith(".db"):
            os.unlink(entry.path)


def child_exit(server, worker):
    """Drop the live gauges of a worker that died; its counters stay in the totals."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    if _created_metrics_dir:
        shutil.rmtree(METRICS_DIR, ignore_errors=True)
