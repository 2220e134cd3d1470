"""The console clock: unix epoch seconds, as Nova's ``timeutils.utcnow_ts()`` (tests move it)."""

import time


def utcnow_ts() -> int:
    return int(time.time())
