"""``manage.py healthcheck [--json]``: the checks of ``/healthcheck``, for probes that run a command.

For the processes without an HTTP endpoint of their own (the conductor, the console proxies, a
cron job's host) and for container probes (``exec``) and systemd: it checks, with this process's
configuration, what ``/healthcheck`` checks (the API database, every cell, the cache, the
disable file) and exits 0 when healthy (degraded included: a cell other than cell0 or the cache
down, shown as DEGRADED lines) and 1 when not (UNHEALTHY lines). ``--json`` prints
oslo.middleware's detailed body (without thread stacks) with ``healthy`` added.
"""

import json

from cellsv2.management.base import OperatorCommand
from cellsv2.observability import health

HEALTHY, UNHEALTHY = 0, 1


class Command(OperatorCommand):
    help = "Check the API database, every cell and the cache, as /healthcheck does (exit 0 healthy, 1 not)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--json", dest="as_json", action="store_true", help="Print oslo.middleware's detailed JSON body."
        )

    def run(self, *args, as_json: bool = False, **options):
        report = health.health_report()
        if as_json:
            body = {k: v for k, v in health.detailed_body(report).items() if k not in ("threads", "greenthreads")}
            body["healthy"] = report.healthy
            self.say(json.dumps(body, indent=4, sort_keys=True))
        else:
            for result in report.results:
                state = "OK" if result.ok else ("DEGRADED" if result.available else "UNHEALTHY")
                line = result.details if result.ok else f"{result.reason}: {result.details}"
                self.say(f"{state:<10}{line}")
            self.say("healthy" if report.healthy else "unhealthy")
        return HEALTHY if report.healthy else UNHEALTHY
