"""Running cellsv2 as a service: health checks, Prometheus metrics and structured logs.

- ``context``: the fields every log line of a request (or of a conductor placement) carries;
- ``logs``: ``CELLSV2_LOG_FORMAT`` (text or one JSON object per line) and the access log;
- ``health``: what ``/healthcheck`` and ``manage.py healthcheck`` check (oslo.middleware's bodies);
- ``metrics``: the catalogue of ``cellsv2_*`` metrics, the scrape-time sources apps register, the
  hooks the conductor and the console proxy call, and the exposition (multiprocess under gunicorn);
- ``access``: who may see the detailed health check and the metrics;
- ``middleware``, ``views``: the HTTP side; ``server``: a small HTTP server for the processes that
  have none of Django's (the conductor, the console proxies), off unless ``CELLSV2_METRICS_LISTEN``.
"""
