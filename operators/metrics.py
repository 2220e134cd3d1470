"""The operators' scrape-time metrics: the build queue and the online data migrations' backlog.

Registered into cellsv2.observability.metrics by ``OperatorsConfig.ready()``; each reads what
the cells dashboard shows (operators.dashboard), so the page and the metrics never disagree:

- ``cellsv2_build_requests_waiting`` and ``cellsv2_build_requests_oldest_age_seconds`` (0 when
  none waits): one aggregate query on the API database per scrape;
- ``cellsv2_online_migration_rows_left{migration}``: rows each registered online data migration
  still has to move (those that can count), read from every cell, so cached for
  ``CELLSV2_METRICS_CACHE_SECONDS``; a migration that cannot be counted now (a cell down) is left
  out of the scrape rather than reported as 0.
"""

from prometheus_client.core import GaugeMetricFamily

from cellsv2.observability.metrics import cached_source
from operators.dashboard import dashboard_build_queue, dashboard_pending_migrations


def build_queue_source():
    queue = dashboard_build_queue()
    waiting = GaugeMetricFamily("cellsv2_build_requests_waiting", "Build requests waiting for the conductor.")
    waiting.add_metric([], queue.waiting)
    oldest = GaugeMetricFamily(
        "cellsv2_build_requests_oldest_age_seconds",
        "Age of the oldest build request waiting for the conductor (0 when none waits).",
    )
    oldest.add_metric([], queue.oldest_age.total_seconds() if queue.oldest_age is not None else 0.0)
    return [waiting, oldest]


@cached_source
def online_migrations_source():
    left = GaugeMetricFamily(
        "cellsv2_online_migration_rows_left",
        "Rows an online data migration still has to move (manage.py online_data_migrations).",
        labels=["migration"],
    )
    for migration in dashboard_pending_migrations():
        if migration.pending is not None:
            left.add_metric([migration.name], migration.pending)
    return [left]
