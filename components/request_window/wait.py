"""Waiting for a window to fill before it is read: a canary's requests after its push.

The window is the wait itself, [when the wait began, + minutes), so the requests read are the
ones served after the step started. `log_delay_minutes` more are waited before reading, for a
log that lands late: Cloud Logging's export to Cloud Storage writes hourly files, so a window
that ends now is only complete about an hour later.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable

from components.common.io import log
from components.request_window.logs import iso

PROGRESS_EVERY_S = 60.0


def wait_for_window(
    minutes: float,
    log_delay_minutes: float = 0.0,
    *,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
) -> tuple[str, str]:
    """Waits `minutes` + `log_delay_minutes` (progress logged once a minute) and returns the
    window [start, end) as ISO 8601 UTC texts; ("", "") at once when `minutes` is 0."""
    if minutes < 0 or log_delay_minutes < 0:
        raise ValueError(
            f"wait_minutes={minutes}, log_delay_minutes={log_delay_minutes}: give minutes >= 0 (0: no wait)"
        )
    if minutes == 0:
        return "", ""
    start = now()
    total_s = (minutes + log_delay_minutes) * 60
    log.info(
        "RequestWindow: waiting %.4g min for the window from %s (+ %.4g min for the log to land)",
        minutes,
        iso(start),
        log_delay_minutes,
    )
    began = clock()
    while (left := total_s - (clock() - began)) > 0:
        sleep(min(left, PROGRESS_EVERY_S))
        done = min(clock() - began, total_s)
        log.info("RequestWindow: waited %.1f of %.4g min", done / 60, total_s / 60)
    return iso(start), iso(start + dt.timedelta(minutes=minutes))
