"""The kit's one clock: today's date and the current time, in UTC.

Rule expiry, a remote hunt's default window and the training course's rule checks read the
time here and nowhere else. ``HUNTING_LIB_TODAY`` (YYYY-MM-DD) pins it, so that a report, a
training run or a test gives the same answer next year; the test suite pins it for every test.
No pandas here: the parquet scan's child process reads the clock too.
"""

from __future__ import annotations

import datetime as dt
import os

from hunting_lib.errors import BadInputError

PIN_VARIABLE = "HUNTING_LIB_TODAY"


def today() -> dt.date:
    """Today's date in UTC, or the pinned one."""
    pinned = os.environ.get(PIN_VARIABLE, "").strip()
    if pinned:
        try:
            return dt.date.fromisoformat(pinned)
        except ValueError:
            raise BadInputError(f"{PIN_VARIABLE}={pinned!r} is not a date (YYYY-MM-DD)") from None
    return dt.datetime.now(dt.timezone.utc).date()


def now() -> dt.datetime:
    """The current UTC time, whole seconds; with a pinned date, that day's midnight."""
    if os.environ.get(PIN_VARIABLE, "").strip():
        return dt.datetime.combine(today(), dt.time(), tzinfo=dt.timezone.utc)
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
