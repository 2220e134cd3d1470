"""Base class for operator commands with nova-manage's exit-code contract.

``run()`` returns the exit code (None means 0). Messages go through ``say`` (stdout) and ``fail``
(stderr); a command whose stdout is a value scripts capture (an id, a token) confirms what it did
with ``note`` (stderr), so ``$(...)`` still gets the value alone. Long commands report progress
with ``progress()`` (a bar on a terminal, plain lines otherwise: cellsv2.management.progress).
Any exception a command does not handle prints ``An error has occurred: <one line>`` and exits
255 as nova-manage does, with the traceback only in the log (never on the terminal). Ctrl-C
that a command does not handle itself prints ``Interrupted.`` and exits 130 (the shell's code
for SIGINT); what was committed stays, and the long commands are safe to run again.
"""

import logging
import sys

from django.core.management.base import BaseCommand, CommandError

from cellsv2.management.progress import CommandProgress

logger = logging.getLogger("cellsv2.commands")

UNEXPECTED_ERROR = 255
INTERRUPTED = 130


class OperatorCommand(BaseCommand):
    requires_system_checks = []

    exit_code = 0

    def say(self, message: str = "") -> None:
        self.stdout.write(message)

    def fail(self, message: str) -> None:
        self.stderr.write(message, style_func=lambda text: text)

    def note(self, message: str) -> None:
        """Say what was done on stderr: for commands whose stdout is a value to capture."""
        self.stderr.write(message, style_func=lambda text: text)

    def progress(self, *, desc: str, unit: str, total=None, lines: bool = True) -> CommandProgress:
        """Progress on stdout: a bar on a terminal, plain lines otherwise (use it in a ``with``)."""
        return CommandProgress(self.stdout, desc=desc, unit=unit, total=total, lines=lines)

    def handle(self, *args, **options):
        try:
            code = self.run(*args, **options)
        except CommandError:
            raise
        except KeyboardInterrupt:
            self.fail("Interrupted.")
            code = INTERRUPTED
        except Exception as exc:
            # One line on the terminal (below); the traceback with CELLSV2_LOG_LEVEL=DEBUG.
            logger.debug("%s failed", self.__module__, exc_info=True)
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


def quantity(count: int, noun: str, plural: str | None = None) -> str:
    """``1 row``, ``2 rows``, ``3 batches`` (``plural`` when adding an s is wrong)."""
    return f"{count} {noun if count == 1 else plural or noun + 's'}"


MAX_COUNT = 2**31 - 1


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
    # Nova takes any size; databases take 64-bit LIMITs and the rows fit far below this bound.
    return min(count, MAX_COUNT)
