"""Progress bars for long work: loading big folders, remote queries, the report.

tqdm draws a bar on a terminal and, in a notebook kernel, a notebook widget (``tqdm.auto``). A
bar is noise where nobody watches it, so it stays off:

- in tests (pytest sets ``PYTEST_CURRENT_TEST``),
- under papermill (the report command sets ``HUNTING_LIB_PROGRESS=0`` for the kernel, whose
  output becomes the report),
- when stderr is not a terminal and no notebook front end is attached (logs, CI, pipes),
- whenever ``HUNTING_LIB_PROGRESS=0``; ``HUNTING_LIB_PROGRESS=1`` forces it on.
"""

from __future__ import annotations

import os
import sys
from typing import Any, Iterable, Iterator, TypeVar

T = TypeVar("T")

#: Below this many steps a bar is not worth drawing.
MIN_STEPS = 2


def _in_notebook_kernel() -> bool:
    shell = sys.modules.get("IPython")
    if shell is None:
        return False
    try:
        ip = shell.get_ipython()
    except Exception:
        return False
    return ip is not None and type(ip).__name__ == "ZMQInteractiveShell"


def progress_enabled() -> bool:
    """Whether a progress bar would be seen by someone."""
    forced = os.environ.get("HUNTING_LIB_PROGRESS", "").strip()
    if forced in ("0", "1"):
        return forced == "1"
    if "PYTEST_CURRENT_TEST" in os.environ:
        return False
    if _in_notebook_kernel():
        return True
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


def progress(items: Iterable[T], description: str, total: int | None = None, unit: str = "it") -> Iterator[T]:
    """``items``, with a progress bar when one would be seen (see the module's docstring)."""
    if total is None:
        try:
            total = len(items)  # type: ignore[arg-type]
        except TypeError:
            total = None
    if not progress_enabled() or (total is not None and total < MIN_STEPS):
        yield from items
        return
    from tqdm.auto import tqdm

    bar: Any = tqdm(items, desc=description, total=total, unit=unit, leave=False, dynamic_ncols=True)
    try:
        yield from bar
    finally:
        bar.close()
