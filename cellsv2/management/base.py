"""Base class for operator commands with nova-manage's exit-code contract.

``run()`` returns the exit code (None means 0). Messages go through ``say`` (stdout) and ``fail``
(stderr). Any exception a command does not handle prints ``An error has occurred: <one line>``
and exits 255 as nova-manage does, with the traceback only in the log (never on the terminal).
"""

import logging
import sys

from django.core.management.base import BaseCommand, CommandError

logger = logging.getLogger("cellsv2.commands")

UNEXPECTED_ERROR = 255


class OperatorCommand(BaseCommand):
    requires_system_checks = []

    exit_code = 0

    def say(self, message: str = "") -> None:
        self.stdout.write(message)

    def fail(self, message: str) -> None:
        self.stderr.write(message, style_func=lambda text: text)

    def handle(self, *args, **options):
        try:
            code = self.run(*args, **options)
        except CommandError:
            raise
        except Exception as exc:
            logger.exception("%s failed", self.__module__)
            text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            self.fail(f"An error has occurred: {type(exc).__name__}{': ' + text if text else ''}")
            code = UNEXPECTED_ERROR
        self.exit_code = code or 0

    def run(self, *args, **options) -> int | None:  # pragma: no cover - abstract
        raise NotImplementedError

    def run_from_argv(self, argv):
        super().run_from_argv(argv)
        if self.exit_code:
            sys.exit(self.exit_code)


def parse_max_count(value) -> int | None:
    """Nova's --max-count rule: None when absent, else a positive integer; ValueError otherwise."""
    if value is None:
        return None
    try:
        count = int(value)
    except (TypeError, ValueError):
        count = -1
    if count < 1:
        raise ValueError(value)
    return count
