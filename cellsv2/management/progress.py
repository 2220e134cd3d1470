"""Progress of a long operator command: a bar on a terminal, plain lines otherwise.

Used by ``online_data_migrations``, ``cell_v2 map_instances``, ``cell_v2 discover_hosts`` and
``db archive_deleted_rows``. Progress goes to the command's stdout, as its messages and its final
table do; stderr carries only errors. So:

- on a terminal (stdout is a TTY) tqdm draws one bar, lines printed meanwhile (Nova's per-batch
  messages) appear above it, and the bar is erased when the command finishes: what stays on the
  screen is the messages and the final table or summary;
- otherwise (a pipe, a file, a cron or systemd log) there is no bar and no control character:
  each step the command reports is one plain line, flushed at once so a log shows it as it
  happens, then the same final table or summary.
"""

import os
from collections.abc import Callable

# The size assumed when the terminal reports none (a pseudo-terminal nobody sized, as `script
# -qec` gives outside a terminal): tqdm would otherwise draw nothing at all.
FALLBACK_SIZE = (80, 24)


def _stream(stdout):
    """The file under a Django OutputWrapper (or the file itself)."""
    return getattr(stdout, "_out", stdout)


def stdout_is_terminal(stdout) -> bool:
    stream = _stream(stdout)
    return bool(getattr(stream, "isatty", None) and stream.isatty())


def _terminal_size(stream) -> tuple[int | None, int | None]:
    """(columns, lines) of the terminal, FALLBACK_SIZE's where it reports 0 (None: let tqdm ask)."""
    try:
        size = os.get_terminal_size(stream.fileno())
    except (AttributeError, OSError, ValueError):
        return None, None
    return size.columns or FALLBACK_SIZE[0], size.lines or FALLBACK_SIZE[1]


class CommandProgress:
    """One long command's progress on ``stdout`` (a Django OutputWrapper or a file).

    ``total`` is the number of units expected, if known: an int, or a callable that returns one
    (called only on a terminal, where the bar shows it; it may raise, the bar then just counts).
    With ``lines=False`` the plain lines of ``advance`` are not printed (the command prints its
    own progress for pipes, as ``archive_deleted_rows --verbose --until-complete`` does Nova's).
    Use it as a context manager so the bar is erased even when the command fails.
    """

    def __init__(self, stdout, *, desc: str, unit: str, total: int | Callable[[], int] | None = None, lines=True):
        self._stdout = stdout
        self._lines = lines
        self.on_terminal = stdout_is_terminal(stdout)
        self._bar = None
        if self.on_terminal:
            from tqdm import tqdm

            if callable(total):
                try:
                    total = total()
                except Exception:  # the bar is a nicety: without a total it still counts
                    total = None
            stream = _stream(stdout)
            columns, lines = _terminal_size(stream)
            self._bar = tqdm(
                desc=desc, unit=f" {unit}", total=total, file=stream, ncols=columns, nrows=lines, leave=False
            )

    def set_total(self, total: int) -> None:
        """The number of units expected, once the command knows it."""
        if self._bar is not None:
            self._bar.total = total
            self._bar.refresh()

    def message(self, text: str) -> None:
        """A line that stays: above the bar on a terminal, a plain line otherwise."""
        if self._bar is not None:
            self._bar.write(text, file=_stream(self._stdout))
        else:
            self._stdout.write(text)
            self._stdout.flush()

    def advance(self, count: int = 1, *, line: str | None = None) -> None:
        """``count`` more units done; ``line`` says so in plain output (none on a terminal)."""
        if self._bar is not None:
            self._bar.update(count)
        elif line is not None and self._lines:
            self.message(line)

    def close(self) -> None:
        """Erase the bar (a no-op for plain output); safe to call twice."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def __enter__(self) -> "CommandProgress":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()
