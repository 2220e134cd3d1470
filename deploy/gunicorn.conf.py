"""gunicorn's configuration for the cellsv2 API: ``gunicorn -c deploy/gunicorn.conf.py``.

Run from the repository (the unit's WorkingDirectory): ``cellsv2.wsgi`` and ``cellsv2.observability``
are imported from there. Read from the environment (the unit's EnvironmentFile):

- ``CELLSV2_LISTEN`` (``127.0.0.1:8000``), ``CELLSV2_WORKERS`` (2), ``CELLSV2_THREADS`` (4);
- ``PROMETHEUS_MULTIPROC_DIR``: where the workers keep their metrics so that ``/metrics`` adds
  them up. Emptied as gunicorn starts (values of an earlier run must not count); when unset, a
  new temporary directory is used. ``child_exit`` retires a dead worker's live gauges;
- ``CELLSV2_LOG_FORMAT``: ``json`` makes gunicorn's own lines JSON too and leaves the access log
  to the application (one JSON line per request, with its request id); ``text`` keeps
  gunicorn's access log on stdout.
"""

import os
import shutil
import tempfile

wsgi_app = "cellsv2.wsgi:application"
bind = os.environ.get("CELLSV2_LISTEN", "127.0.0.1:8000")
workers = int(os.environ.get("CELLSV2_WORKERS", "2"))
threads = int(os.environ.get("CELLSV2_THREADS", "4"))
# A request that waits on a cell never takes longer than CELLSV2_SCATTER_GATHER_TIMEOUT (60 s).
timeout = 90
graceful_timeout = 30

# Set before any worker imports prometheus-client: it picks file-backed values from it.
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="cellsv2-metrics-")
METRICS_DIR = os.environ["PROMETHEUS_MULTIPROC_DIR"]

# Imported here, in the arbiter before any worker starts (and after the directory is set): child_exit
# runs in gunicorn's SIGCHLD handler, and an import begun there is re-entered when the next worker's
# SIGCHLD arrives during it, which fails on a partially initialized module at shutdown.
from prometheus_client import multiprocess  # noqa: E402


def on_starting(server):
    os.makedirs(METRICS_DIR, exist_ok=True)
    for name in os.listdir(METRICS_DIR):
        path = os.path.join(METRICS_DIR, name)
        # A file gone meanwhile is no reason not to start (another process cleaning the same
        # directory: a misconfiguration, but the server still serves).
        if os.path.isdir(path):
            shutil.rmtree(path, ignore_errors=True)
        else:
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass


def child_exit(server, worker):
    multiprocess.mark_process_dead(worker.pid)


if os.environ.get("CELLSV2_LOG_FORMAT", "text").strip().lower() == "json":
    accesslog = None
    logconfig_dict = {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "cellsv2.observability.logs.JsonFormatter"}},
        "handlers": {"json": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}},
        "root": {"level": "INFO", "handlers": ["json"]},
        "loggers": {
            "gunicorn.error": {"level": "INFO", "handlers": ["json"], "propagate": False},
            "gunicorn.access": {"level": "INFO", "handlers": [], "propagate": False},
        },
    }
else:
    accesslog = "-"
errorlog = "-"
