"""Chart labels made from attacker-controlled text (command lines, paths, device names).

``short_label`` makes each one safe to draw: control and bidirectional-override characters become
visible escapes (``text.display_units``, the test the terminal and Markdown output use too), ``$``
cannot start mathtext, and long paths and command lines are shortened to their informative ends.
Every tick label, legend entry and annotation of ``plots`` goes through it.
"""

from __future__ import annotations

import re
from typing import Sequence

import numpy as np
import pandas as pd

from hunting_lib.report.text import display_units

__all__ = ["EMPTY_LABEL", "ELLIPSIS", "distinct_labels", "short_label", "task_labels"]

ELLIPSIS = "\u2026"
EMPTY_LABEL = "(empty)"


def _span(units: list[str]) -> int:
    """Displayed length: an escape such as ``\\x1b`` counts as the four characters it shows."""
    return sum(len(u) for u in units)


def _middle(units: list[str], width: int) -> list[str]:
    """Keep the start and the end, which say the most about a command line: program and target."""
    if _span(units) <= width:
        return units
    spans = np.fromiter((len(u) for u in units), dtype=int, count=len(units))
    head_room = width // 2
    head = int(np.searchsorted(np.cumsum(spans), head_room, side="right"))
    tail_room = width - 1 - _span(units[:head])
    tail = int(np.searchsorted(np.cumsum(spans[::-1]), tail_room, side="right"))
    return units[:head] + [ELLIPSIS] + (units[len(units) - tail:] if tail else [])


_PATH_START = re.compile(r"^(?:[A-Za-z]:[\\/]|\\\\|/|%[A-Za-z_]\w*%[\\/])")
_ARGUMENT = re.compile(r"\s[-/][\w?]|\"")


def _is_path(text: str) -> bool:
    """A bare path (C:\\..., \\\\server\\..., /..., %VAR%\\...), not a command line with arguments."""
    return bool(_PATH_START.match(text)) and not _ARGUMENT.search(text)


def _split_path(text: str) -> tuple[str, list[str], list[str]]:
    """Root (``C:\\``, ``\\\\server\\``, ``/``), folder and file names, and the separators between them."""
    parts = re.split(r"([\\/]+)", text)  # name, separator, name, ... (names may be empty)
    cut = 4 if parts[0] == "" and len(parts) > 3 else 2  # UNC / POSIX: keep the server or first folder
    root, rest = "".join(parts[:cut]), parts[cut:]
    return root, rest[0::2], rest[1::2]


def _render_path(root: list[str], names: list[list[str]], seps: list[list[str]], keep: set[int]) -> list[str]:
    """The path (as display units) with each run of names not in ``keep`` replaced by an ellipsis."""
    out, previous = list(root), None
    for i in sorted(k for k in keep if 0 <= k < len(names)):
        if previous is not None:
            out += seps[previous]  # the separator after the last name written
        if i != (0 if previous is None else previous + 1):
            out += [ELLIPSIS] + seps[i - 1]  # names left out before this one
        out += names[i]
        previous = i
    return out


def _shorten_path(text: str, width: int, pin: int | None = None) -> list[str]:
    """``C:\\...\\AppData\\Roaming\\x.exe``: the root, then as many trailing names as fit.

    ``pin`` also keeps the name at that index: the one folder (a user profile, say) that tells
    two otherwise identical paths apart. To make room for it the file name may lose its middle.
    """
    root_text, name_texts, sep_texts = _split_path(text)
    if not name_texts:
        return _middle(display_units(text), width)
    root = display_units(root_text)
    names, seps = [display_units(n) for n in name_texts], [display_units(s) for s in sep_texts]
    last = len(names) - 1
    keep = {last}
    if pin is not None and 0 <= pin < last:
        pinned = _render_path(root, names, seps, {pin, last})
        room = _span(names[last]) - (_span(pinned) - width)
        if _span(pinned) <= width:
            keep = {pin, last}
        elif room >= 12:  # shorten the file name, keeping its start and its extension
            names = names[:last] + [_middle(names[last], room)]
            keep = {pin, last}
    best = _render_path(root, names, seps, keep)
    if _span(best) > width:  # not even root + name fits: keep both ends of the name (and extension)
        return _middle([ELLIPSIS] + (seps[-1] if seps else []) + names[last], width)
    for i in range(last - 1, -1, -1):  # add folders from the end while the result still fits
        if i in keep:
            continue
        candidate = _render_path(root, names, seps, keep | {i})
        if _span(candidate) > width:
            break
        keep, best = keep | {i}, candidate
    return best


def _as_text(value: object) -> str:
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return ""
    return str(value)


def _finish(units: list[str]) -> str:
    """Join display units and escape ``$``, so ``$...$`` is never read as mathtext."""
    return "".join(units).replace("$", "\\$")


def short_label(text: object, width: int = 40) -> str:
    """``text`` made safe and short enough for a chart label.

    - Control and bidi characters become visible escapes (``\\x1b``, ``\\u202e``), so an RTL
      override cannot disguise ``exe.txt`` as ``txt.exe`` and an ANSI sequence shows as text.
    - Paths keep their root and their end (``C:\\...\\AppData\\Roaming\\x.exe``): the file name
      and the folders just above it are what tell a user-writable drop from a vendor install.
    - Command lines keep their start (program, first flags) and their end (payload, target).
    - ``$`` is escaped so that matplotlib never reads ``$...$`` as mathtext.

    ``width`` counts characters as displayed (an escape counts by its length, the ``\\`` that
    protects a ``$`` does not; at least 8). Missing and empty values come out as ``(empty)``.
    Secrets (passwords, tokens in URLs) are redacted unless the session keeps them (``redact``).
    """
    from hunting_lib.report.redact import for_display_text

    raw = _as_text(for_display_text(text))
    if raw == "":
        return EMPTY_LABEL
    width = max(int(width), 8)
    units = display_units(raw)
    if _span(units) > width:
        units = _shorten_path(raw, width) if _is_path(raw) else _middle(units, width)
    return _finish(units)


def distinct_labels(texts: Sequence[object], width: int = 40) -> list[str]:
    """``short_label`` of each text, re-shortened where different paths would look the same.

    Per-user task programs (``C:\\Users\\<name>\\AppData\\...\\Updater.exe``) differ only in the
    middle, which plain shortening drops; for those the first folder that differs is kept too:
    ``C:\\...\\anna\\...\\Updater.exe``.
    """
    raw = [_as_text(t) for t in texts]
    labels = [short_label(t, width) for t in raw]
    clashes: dict[str, list[int]] = {}
    for i, label in enumerate(labels):  # one entry per label shown, a few dozen at most
        clashes.setdefault(label, []).append(i)
    width = max(int(width), 8)
    for members in clashes.values():
        if len({raw[i] for i in members}) < 2 or not all(_is_path(raw[i]) for i in members):
            continue
        names = [[n.lower() for n in _split_path(raw[i])[1]] for i in members]
        depth = min(len(n) for n in names)
        pin = next((j for j in range(depth) if len({n[j] for n in names}) > 1), None)
        if pin is not None:
            for i in members:
                labels[i] = _finish(_shorten_path(raw[i], width, pin))
    return labels


def task_labels(tasks: pd.DataFrame, width: int = 48, sep: str = "\n") -> list[str]:
    """Per rare group: ``#TaskId command line``, then the program's path (after ``sep``).

    The path matters: per-user updaters share one command line and differ only by path.
    """
    commands = [short_label(c, width) for c in tasks["ProcessCommandLine"]]
    paths = distinct_labels(list(tasks["FolderPath"]), width)
    return [f"#{t} {c}{sep}{p}" for t, c, p in zip(tasks["TaskId"], commands, paths)]

