"""Charts of one hunt for the static HTML report: when rare tasks ran, why they score, why they
are rare, and what they did.

Every chart is a function of a ``HuntResult`` that returns a ``matplotlib.figure.Figure``.
Anything with the same frames as attributes will do (``rare_tasks``, ``task_starts``,
``activity_rows``, and ``params`` for ``runs_vs_devices``), and ``score_breakdown`` also takes the
``rare_tasks`` frame alone. The figures are built without pyplot (no global figure registry, no
``show()``) inside a style context, so calling them changes no global matplotlib state; save or
display them as you like.

Labels come from attacker-controlled text (command lines, paths, device names). ``short_label``
makes each one safe to draw: control and bidirectional-override characters become visible
escapes, ``$`` cannot start mathtext, and long paths and command lines are shortened to their
informative ends. Every tick label, legend entry and annotation goes through it.

Colours come from cividis (readable with colour-vision deficiencies, monotonic lightness) and are
always paired with a second cue (hatching, marker shape or fill), so the charts also read in
greyscale print.
"""

from __future__ import annotations

import re
from typing import Sequence

import matplotlib as mpl
import matplotlib.dates as mdates
import matplotlib.style as mstyle
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.colors import LogNorm, to_rgb
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from hunting_lib.engine.correlate import attribute_rows
from hunting_lib.engine.rarity import GROUP_KEYS
from hunting_lib.result import HuntResult
from hunting_lib.triage.scoring import ScoringConfig, default_scoring

__all__ = [
    "action_counts",
    "actions_per_finding",
    "all_figures",
    "attribute_activity",
    "distinct_labels",
    "group_prevalence",
    "indicator_prevalence",
    "rare_tasks_over_time",
    "runs_vs_devices",
    "score_breakdown",
    "short_label",
    "task_labels",
]

ELLIPSIS = "\u2026"

# Applied only while a figure is built: the caller's rcParams are left as they were. usetex and
# parse_math are pinned because short_label's escaping assumes plain text with mathtext on.
STYLE: dict[str, object] = {
    "text.usetex": False,
    "text.parse_math": True,
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.titlelocation": "left",
    "axes.labelsize": 9.5,
    "figure.titlesize": 12,
    "figure.titleweight": "bold",
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.color": "0.88",
    "grid.linewidth": 0.6,
    "axes.axisbelow": True,
    "legend.frameon": False,
    "legend.fontsize": 8.5,
    "hatch.linewidth": 0.7,
    "image.cmap": "cividis",
}

CMAP = "cividis"
# Thirty-two distinct fills, enough for every signal in scoring.yaml to have its own.
HATCHES = ["", "///", "...", "xxx", "\\\\\\", "+++", "ooo", "---", "|||", "**", "OO", "//..", "xx..",
           "\\\\||", "-..", "++oo", "//oo", "||..", "--oo", "xx**", "\\\\..", "++..", "|**", "-**", "/**",
           "oo..", "OO..", "x|", "+/", "o-", "*|", "O/"]
MARKERS = ["o", "s", "^", "D", "v", "P", "X", "<", ">", "*", "p", "h"]
EMPTY_LABEL = "(empty)"


# --------------------------------------------------------------------------------------------
# Labels


def _escape_char(ch: str) -> str:
    """A visible stand-in for a character that would otherwise be invisible or reorder text."""
    named = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}
    if ch in named:
        return named[ch]
    code = ord(ch)
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def _units(text: str) -> list[str]:
    """The text as display units: one per character, escaped where it is not printable.

    Python's ``isprintable`` is false exactly for control (Cc), format (Cf: the bidi overrides
    U+202A-202E and U+2066-2069, zero-width characters), separator other than space, surrogate,
    private-use and unassigned characters: the ones an attacker uses to disguise a name.
    Truncation works on units, so an escape is never cut in half.
    """
    return [ch if ch.isprintable() else _escape_char(ch) for ch in text]


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
        return _middle(_units(text), width)
    root, names, seps = _units(root_text), [_units(n) for n in name_texts], [_units(s) for s in sep_texts]
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
    """
    raw = _as_text(text)
    if raw == "":
        return EMPTY_LABEL
    width = max(int(width), 8)
    units = _units(raw)
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


# --------------------------------------------------------------------------------------------
# Shared helpers


def _new_figure(width: float, height: float) -> tuple[Figure, Axes]:
    """A pyplot-free figure: nothing is registered globally, so nothing leaks between cells."""
    fig = Figure(figsize=(width, height), layout="constrained")
    return fig, fig.add_subplot()


def _nothing_to_show(title: str, message: str) -> Figure:
    """A small figure that says why there is no chart, instead of raising or drawing empty axes."""
    with mstyle.context(STYLE):
        fig, ax = _new_figure(8, 2.2)
        fig.suptitle(title)
        ax.set_axis_off()
        ax.text(0.5, 0.5, short_label(message, 200), ha="center", va="center", fontsize=11,
                color="0.25", transform=ax.transAxes, wrap=True)
    return fig


def _palette(n: int) -> list[tuple[float, float, float]]:
    """``n`` cividis colours, ordered so that neighbours differ strongly in lightness."""
    if n <= 0:
        return []
    values = np.linspace(0.0, 0.95, n)
    order = np.empty(n, dtype=int)
    half = (n + 1) // 2
    order[0::2] = np.arange(half)
    order[1::2] = np.arange(half, n)
    cmap = mpl.colormaps[CMAP]
    return [tuple(cmap(values[i])[:3]) for i in order]


def _luminance(colour: object) -> float:
    r, g, b = to_rgb(colour)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def _ink_on(colour: object) -> str:
    """Black or white, whichever reads on ``colour``."""
    return "black" if _luminance(colour) > 0.45 else "white"


def _rare_tasks(result: HuntResult | pd.DataFrame) -> pd.DataFrame:
    return result if isinstance(result, pd.DataFrame) else result.rare_tasks


def _is_suppressed(rare: pd.DataFrame) -> pd.Series:
    if "SuppressedBy" not in rare.columns:
        return pd.Series(False, index=rare.index)
    return rare["SuppressedBy"].notna()


def _findings(rare: pd.DataFrame) -> pd.DataFrame:
    """The unsuppressed rare groups, in rank order (``HuntResult.findings`` for a bare frame)."""
    return rare[~_is_suppressed(rare)].reset_index(drop=True)


def _naive_utc(stamps: pd.Series) -> pd.Series:
    """Timestamps as naive UTC, which matplotlib's date axis takes without a time zone setting."""
    stamps = pd.to_datetime(stamps, utc=True)
    return stamps.dt.tz_localize(None)


def _plain_log_axis(axis) -> None:
    """Log axis ticks as plain numbers at 1, 2, 5, 10, 20, ... (not 10^n mathtext)."""
    axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    axis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    axis.set_minor_locator(LogLocator(base=10, subs="auto"))
    axis.set_minor_formatter(NullFormatter())


# --------------------------------------------------------------------------------------------
# 1. Rare tasks by device over time


def rare_tasks_over_time(result: HuntResult, top_n: int = 10, show_suppressed: bool = True) -> Figure:
    """Each Task Scheduler start of a rare group: when (x), on which device (y), which task (marker).

    A timeline answers what a table cannot: did the task run once at 03:00 on one host, or
    hourly since Monday, and did it start on several hosts at once (lateral movement)? The
    ``top_n`` highest-ranked findings each get their own marker and colour; other findings are
    small dark dots; groups an exclusion suppressed are light crosses (or left out, with a note,
    when ``show_suppressed`` is False).
    """
    title = "When the rare scheduled tasks ran, by device"
    rare = result.rare_tasks
    if rare.empty:
        return _nothing_to_show(title, "No rare scheduled tasks in this hunt: nothing to show.")
    with mstyle.context(STYLE):
        groups = rare[GROUP_KEYS + ["TaskId"]].assign(
            _rank=np.arange(len(rare)), _suppressed=_is_suppressed(rare).to_numpy())
        starts = result.task_starts[["Timestamp", "DeviceName"] + GROUP_KEYS].merge(groups, on=GROUP_KEYS)
        hidden = 0
        if not show_suppressed:
            hidden = int(groups["_suppressed"].sum())
            starts = starts[~starts["_suppressed"]]
        starts = starts.dropna(subset=["Timestamp"])
        if starts.empty:
            return _nothing_to_show(title, "No Task Scheduler starts of rare groups to draw.")

        findings = groups[~groups["_suppressed"]]
        featured = findings["TaskId"].head(max(int(top_n), 0)).tolist()
        starts = starts.assign(
            _when=_naive_utc(starts["Timestamp"]),
            _kind=np.where(starts["TaskId"].isin(featured), "featured",
                           np.where(starts["_suppressed"], "suppressed", "other")),
        )

        # Devices top to bottom by the best-ranked task that ran on them.
        devices = (starts.groupby("DeviceName", dropna=False)["_rank"].min()
                   .reset_index().sort_values(["_rank", "DeviceName"]))
        row_of = pd.Series(np.arange(len(devices)), index=devices["DeviceName"].to_numpy())
        # Tasks sharing a device get their own lane inside the device's row, so markers don't hide.
        pairs = starts[["DeviceName", "TaskId", "_rank"]].drop_duplicates(["DeviceName", "TaskId"])
        pairs = pairs.sort_values("_rank")
        lane = pairs.groupby("DeviceName", dropna=False).cumcount()
        lanes = pairs.groupby("DeviceName", dropna=False)["TaskId"].transform("size")
        pairs = pairs.assign(_offset=(lane - (lanes - 1) / 2) * np.minimum(0.22, 0.7 / lanes))
        starts = starts.merge(pairs[["DeviceName", "TaskId", "_offset"]], on=["DeviceName", "TaskId"])
        starts["_y"] = starts["DeviceName"].map(row_of).to_numpy(dtype=float) + starts["_offset"]

        fig, ax = _new_figure(11, 2.8 + 0.24 * len(devices) + 0.18 * min(len(featured), 12))
        fig.suptitle(title)
        by_kind = dict(tuple(starts.groupby("_kind")))
        if "suppressed" in by_kind:
            part = by_kind["suppressed"]
            ax.scatter(part["_when"], part["_y"], marker="x", s=22, color="0.65", linewidths=1.0,
                       label=f"suppressed by an exclusion ({part['TaskId'].nunique()} groups)",
                       gid="suppressed", zorder=2)
        if "other" in by_kind:
            part = by_kind["other"]
            ax.scatter(part["_when"], part["_y"], marker=".", s=28, color="0.3",
                       label=f"other findings ({part['TaskId'].nunique()} groups)", gid="other", zorder=3)
        if "featured" in by_kind:
            featured_rows = rare.set_index("TaskId", drop=False).loc[featured]
            legend_labels = dict(zip(featured, task_labels(featured_rows, 60, sep=" | ")))
            part = by_kind["featured"].groupby("TaskId")
            colours = _palette(len(featured))
            for i, task_id in enumerate(featured):  # at most top_n findings
                if task_id not in part.groups:
                    continue
                mine = part.get_group(task_id)
                label = legend_labels[task_id]
                ax.scatter(mine["_when"], mine["_y"], marker=MARKERS[i % len(MARKERS)], s=46,
                           color=colours[i], edgecolors="black", linewidths=0.6, label=label,
                           gid=f"task-{task_id}", zorder=4)

        ax.set_yticks(np.arange(len(devices)))
        ax.set_yticklabels([short_label(d, 32) for d in devices["DeviceName"]])
        ax.set_ylim(len(devices) - 0.5, -0.5)  # best-ranked device on top
        ax.grid(axis="y", visible=False)
        for y in np.arange(len(devices) - 1) + 0.5:  # faint row separators (one per device)
            ax.axhline(y, color="0.93", linewidth=0.6, zorder=0)
        first, last = starts["_when"].min(), starts["_when"].max()
        pad = max((last - first) * 0.03, pd.Timedelta(hours=1))  # one start still gets an axis
        ax.set_xlim(first - pad, last + pad)
        locator = mdates.AutoDateLocator()
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
        ax.set_xlabel("Time of the Task Scheduler start (UTC)")
        ax.set_ylabel("Device")
        note = (f"{len(starts)} starts of {starts['TaskId'].nunique()} rare groups on {len(devices)} devices;"
                f" top {len(featured)} findings by score have their own marker")
        if hidden:
            note += f"; {hidden} suppressed groups left out"
        ax.set_title(note, fontsize=8.5, color="0.3")
        # Featured tasks first (in rank order), then the grey catch-all entries.
        handles, labels = ax.get_legend_handles_labels()
        order = sorted(range(len(handles)), key=lambda k: labels[k][:1] != "#")
        fig.legend([handles[k] for k in order], [labels[k] for k in order], loc="outside lower left",
                   ncols=1, fontsize=8, title="Task: #TaskId command line | program path",
                   title_fontsize=8.5, alignment="left")
    return fig


# --------------------------------------------------------------------------------------------
# 2. Score breakdown


def score_breakdown(
    result: HuntResult | pd.DataFrame, top_n: int = 15, scoring: ScoringConfig | None = None
) -> Figure:
    """Each task's Score as a stack of the weights of the signals that fired, in rank order.

    The rank alone invites "why is this one above that one?"; the stack answers it and shows
    which weight to tune in ``scoring.yaml`` when a benign task ranks too high. ``result`` may be
    a ``HuntResult`` or its ``rare_tasks`` frame; ``scoring`` must be the config the hunt scored
    with (the shipped one by default).
    """
    title = "Why each rare task scores what it does"
    rare = _rare_tasks(result)
    if rare.empty:
        return _nothing_to_show(title, "No rare scheduled tasks in this hunt: nothing to score.")
    scoring = scoring or default_scoring()
    with mstyle.context(STYLE):
        shown = rare.head(max(int(top_n), 1)).reset_index(drop=True)
        signals = [s for s in scoring.signals if s in shown.columns]
        fired = shown[signals].fillna(False).astype(bool)
        weights = pd.Series(scoring.weights)[signals]
        widths = fired * weights  # rows x signals: each segment's length
        lefts = widths.cumsum(axis=1) - widths
        drawn = [s for s in signals if fired[s].any()]
        suppressed = _is_suppressed(shown).to_numpy()

        fig, ax = _new_figure(11, 1.9 + 0.5 * len(shown) + 0.12 * len(drawn))
        fig.suptitle(title)
        y = np.arange(len(shown))
        colours = _palette(len(drawn))
        opacity = np.where(suppressed, 0.4, 1.0)  # suppressed rows faded, still adding up
        for i, signal in enumerate(drawn):  # one call per signal (at most a dozen or so)
            rows = fired[signal].to_numpy()
            colour, ink = colours[i], to_rgb(_ink_on(colours[i]))
            ax.barh(y[rows], widths.loc[rows, signal], left=lefts.loc[rows, signal], height=0.7,
                    color=[(*colour, a) for a in opacity[rows]],
                    edgecolor=[(*ink, a) for a in opacity[rows]], linewidth=0.6,
                    hatch=HATCHES[i % len(HATCHES)],
                    label=f"{short_label(signal)} ({weights[signal]:g})", gid=signal)
        totals = shown["Score"].astype(float).to_numpy()
        for row, total in zip(y, totals):
            ax.text(total + 0.15, row, f"{total:g}", va="center", ha="left", fontsize=8.5, fontweight="bold")

        labels = task_labels(shown, 50)
        labels = [("[suppressed] " + lab) if s else lab for lab, s in zip(labels, suppressed)]
        ax.set_yticks(y)
        ax.set_yticklabels(labels, fontsize=8)
        for tick, is_suppressed in zip(ax.get_yticklabels(), suppressed):
            if is_suppressed:
                tick.set_color("0.45")
        ax.set_ylim(len(shown) - 0.5, -0.6)
        ax.set_xlim(0, max(totals.max() * 1.08 + 0.8, 1.0))
        ax.grid(axis="y", visible=False)
        ax.set_xlabel("Score (sum of the weights of the signals that fired; weights in scoring.yaml)")
        ax.set_ylabel("Rare task, in rank order")
        ax.set_title(f"Top {len(shown)} of {len(rare)} rare groups; findings before suppressed groups",
                     fontsize=8.5, color="0.3")
        if drawn:
            fig.legend(*ax.get_legend_handles_labels(), loc="outside right upper",
                       title="Signal (weight)", title_fontsize=8.5, fontsize=8)
    return fig


# --------------------------------------------------------------------------------------------
# 3. Runs against devices


def group_prevalence(result: HuntResult) -> pd.DataFrame:
    """Per Task Scheduler group in ``task_starts``: runs, devices, and whether the hunt kept it.

    ``Rare`` comes from ``rare_tasks`` (what the hunt decided), not from re-applying the rule, so
    the chart can never disagree with the findings; the threshold lines then show why.
    """
    starts = result.task_starts
    stats = starts.groupby(GROUP_KEYS, dropna=False, sort=False).agg(
        Count=("Timestamp", "size"), DeviceCount=("DeviceName", "nunique")).reset_index()
    rare = result.rare_tasks
    marks = rare[GROUP_KEYS + ["TaskId"]].assign(Suppressed=_is_suppressed(rare).to_numpy())
    stats = stats.merge(marks, on=GROUP_KEYS, how="left")
    stats["Rare"] = stats["TaskId"].notna()
    stats["Suppressed"] = stats["Suppressed"].astype("boolean").fillna(False).astype(bool)
    return stats


def runs_vs_devices(result: HuntResult) -> Figure:
    """Run count against device count for every scheduled task group, rare ones highlighted.

    Rarity is two tests (``Count < threshold``, or ``DeviceCount <= max_devices``); drawing both
    as lines over every group shows which test kept a task and how far the common tasks are from
    the cut, which is what a reviewer needs to judge the threshold.
    """
    title = "Why a task is rare: runs against devices, per task group"
    if result.task_starts.empty:
        return _nothing_to_show(title, "No Task Scheduler starts in this hunt: nothing to show.")
    params = result.params
    with mstyle.context(STYLE):
        stats = group_prevalence(result)
        fig, ax = _new_figure(9.5, 6.2)
        fig.suptitle(title)
        x_max = max(float(stats["Count"].max()), params.threshold) * 1.6
        y_max = max(float(stats["DeviceCount"].max()), params.max_devices or 1) * 1.6
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlim(0.4, x_max)
        ax.set_ylim(0.5, y_max)

        # The rare regions, shaded and hatched so they read without colour.
        ax.axvspan(0.4, params.threshold - 0.5, facecolor="0.95", edgecolor="0.8", hatch="//",
                   linewidth=0, zorder=0)
        ax.axvline(params.threshold - 0.5, color="black", linestyle="--", linewidth=1.1,
                   label=f"threshold: rare when runs < {params.threshold}")
        if params.max_devices is not None:
            ax.axhspan(0.5, params.max_devices + 0.5, facecolor="0.95", edgecolor="0.8", hatch="\\\\",
                       linewidth=0, zorder=0)
            ax.axhline(params.max_devices + 0.5, color="black", linestyle=":", linewidth=1.3,
                       label=f"max_devices: rare when on \u2264 {params.max_devices} device(s)")

        common = stats[~stats["Rare"]]
        found = stats[stats["Rare"] & ~stats["Suppressed"]]
        quiet = stats[stats["Rare"] & stats["Suppressed"]]
        colour_found, colour_quiet = mpl.colormaps[CMAP](0.0), mpl.colormaps[CMAP](0.55)
        ax.scatter(common["Count"], common["DeviceCount"], s=24, marker="o", color="0.72",
                   edgecolors="0.45", linewidths=0.5, label=f"not rare ({len(common)} groups)",
                   gid="not-rare", zorder=2)
        ax.scatter(quiet["Count"], quiet["DeviceCount"], s=70, marker="s", facecolors="none",
                   edgecolors=colour_quiet, linewidths=1.6,
                   label=f"rare, suppressed by an exclusion ({len(quiet)} groups)", gid="rare-suppressed", zorder=3)
        ax.scatter(found["Count"], found["DeviceCount"], s=60, marker="D", color=colour_found,
                   edgecolors="white", linewidths=0.7, label=f"rare finding ({len(found)} groups)",
                   gid="rare-finding", zorder=4)

        # Several rare groups often share a point (one run on one device): say how many; name a
        # group that has its point to itself. Labels alternate above and below so neighbours
        # on the log axis do not collide.
        rare_points = stats[stats["Rare"]].sort_values(["DeviceCount", "Count", "TaskId"])
        points = rare_points.groupby(["Count", "DeviceCount"], sort=False).agg(
            n=("TaskId", "size"), task=("TaskId", "first"), name=("FileName", "first")).reset_index()
        points = points.sort_values(["DeviceCount", "Count"]).reset_index(drop=True)
        for k, point in enumerate(points.head(40).itertuples(index=False)):  # one label per point
            text = (f"\u00d7{point.n}" if point.n > 1
                    else f"#{int(point.task)} {short_label(point.name, 24)}")
            above = k % 2 == 0
            ax.annotate(text, (point.Count, point.DeviceCount), xytext=(0, 9 if above else -10),
                        textcoords="offset points", ha="center", va="bottom" if above else "top",
                        fontsize=7.5, fontweight="bold", color="black")

        _plain_log_axis(ax.xaxis)
        _plain_log_axis(ax.yaxis)
        ax.set_xlabel("Runs: Task Scheduler starts of the group (log scale)")
        ax.set_ylabel("Devices the group ran on (log scale)")
        ax.set_title(f"{len(stats)} task groups, {int(stats['Rare'].sum())} rare. "
                     "\u00d7n: n rare groups at one point; #n: the rare group with TaskId n",
                     fontsize=8.5, color="0.3")
        fig.legend(loc="outside lower center", ncols=2, fontsize=8)
    return fig


# --------------------------------------------------------------------------------------------
# 4. Actions per finding


def attribute_activity(activity_rows: pd.DataFrame, rare_tasks: pd.DataFrame) -> pd.DataFrame:
    """Activity rows paired with their rare group's ``TaskId`` (``correlate.attribute_rows``)."""
    return attribute_rows(activity_rows, rare_tasks)


def action_counts(result: HuntResult, top_n: int = 15) -> pd.DataFrame:
    """Findings (rows, rank order, by TaskId) x ActionType (columns, most frequent first): events."""
    findings = _findings(result.rare_tasks).head(max(int(top_n), 1))
    attributed = attribute_activity(result.activity_rows, findings)
    actions = attributed["ActionType"].fillna("").replace("", "(none)")
    table = pd.crosstab(attributed["TaskId"], actions)
    table = table.reindex(index=findings["TaskId"].to_numpy(), fill_value=0)
    order = table.sum(axis=0).sort_values(ascending=False, kind="stable").index
    return table[order].fillna(0).astype(int)


def actions_per_finding(result: HuntResult, top_n: int = 15) -> Figure:
    """A heatmap of what each finding's processes did: findings x ActionType, events per cell.

    After "why is it rare" and "why does it score", the analyst asks "what did it do": one
    connection, or a registry Run key plus hundreds of connections. Rows are the ``top_n``
    findings in rank order (a blank row is a finding with no matched activity); suppressed
    groups are left out. Colour uses a log scale so one event still shows beside hundreds, and
    every cell carries its count, so the chart does not depend on colour at all.
    """
    title = "What each finding did: events by action type"
    findings = _findings(result.rare_tasks)
    if findings.empty:
        return _nothing_to_show(title, "No unsuppressed rare tasks (findings) in this hunt: nothing to show.")
    if result.activity_rows.empty:
        return _nothing_to_show(title, "No activity matched the rare tasks' processes: nothing to show.")
    table = action_counts(result, top_n)
    if table.empty or table.to_numpy().sum() == 0:
        return _nothing_to_show(title, "None of the top findings' processes has matched activity: nothing to show.")
    with mstyle.context(STYLE):
        shown = findings.head(len(table))  # the same findings, in the same order, as the table
        values = table.to_numpy()
        fig, ax = _new_figure(min(max(6.5 + 0.62 * table.shape[1], 10.0), 16.0), 2.6 + 0.5 * len(table))
        fig.suptitle(title)
        masked = np.ma.masked_equal(values, 0)
        norm = LogNorm(vmin=1, vmax=max(int(values.max()), 2))
        cmap = mpl.colormaps[CMAP].reversed().with_extremes(bad="white")  # dark = many
        image = ax.imshow(masked, cmap=cmap, norm=norm, aspect="auto", interpolation="nearest")
        rows, cols = np.nonzero(values)
        for r, c in zip(rows, cols):  # one label per non-empty cell (findings x action types)
            count = values[r, c]
            ax.text(c, r, f"{count}", ha="center", va="center", fontsize=8,
                    color=_ink_on(cmap(norm(count))))
        ax.set_xticks(np.arange(table.shape[1]))
        ax.set_xticklabels([short_label(a, 28) for a in table.columns], rotation=35, ha="right",
                           rotation_mode="anchor")
        ax.set_yticks(np.arange(len(table)))
        ax.set_yticklabels(task_labels(shown, 50), fontsize=8)
        ax.grid(False)
        ax.set_xticks(np.arange(table.shape[1] + 1) - 0.5, minor=True)
        ax.set_yticks(np.arange(len(table) + 1) - 0.5, minor=True)
        ax.grid(which="minor", color="0.85", linewidth=0.6)
        ax.tick_params(which="minor", length=0)
        for spine in ax.spines.values():
            spine.set_visible(True)
            spine.set_color("0.7")
        ax.set_xlabel("ActionType of the events the task's process initiated")
        ax.set_ylabel("Finding, in rank order")
        empty_rows = int((values.sum(axis=1) == 0).sum())
        note = f"Top {len(table)} of {len(findings)} findings; {int(values.sum())} events"
        if empty_rows:
            note += f"; {empty_rows} blank rows = no matched activity"
        ax.set_title(note, fontsize=8.5, color="0.3")
        bar = fig.colorbar(image, ax=ax, shrink=0.8, pad=0.01)
        bar.set_label("Events (log colour scale)")
        bar.ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
        bar.ax.yaxis.set_minor_formatter(NullFormatter())
    return fig


def indicator_prevalence(indicators: pd.DataFrame, top_n: int = 20) -> Figure:
    """Fleet prevalence of the hunt's network indicators: how many devices contacted each.

    ``indicators`` is ``hunting_lib.pivots.pivot.network_indicators(result)``. An address that only one
    device ever contacted, and only from a rare task, is the lead; one the whole fleet talks to is
    a CDN. Bars are sorted rarest first; public addresses are dark and hatched, private light and
    plain, so the split also reads in greyscale.
    """
    title = "Network indicators: how many devices in the fleet contacted each"
    if indicators is None or indicators.empty:
        return _nothing_to_show(title, "The rare tasks' processes contacted no remote address: nothing to show.")
    shown = indicators.sort_values(["FleetDevices", "Indicator"], kind="stable").head(top_n)
    with mstyle.context(STYLE):
        fig, ax = _new_figure(10.0, 1.6 + 0.36 * len(shown))
        fig.suptitle(title)
        positions = np.arange(len(shown))[::-1]
        public = shown["IPKind"].eq("public").to_numpy()
        colours = [mpl.colormaps[CMAP](0.15) if p else mpl.colormaps[CMAP](0.85) for p in public]
        bars = ax.barh(positions, shown["FleetDevices"].to_numpy(), color=colours, edgecolor="0.2", linewidth=0.6)
        for bar, is_public in zip(bars, public):  # a second cue besides colour
            bar.set_hatch("//" if is_public else "")
        labels = [short_label(f"{i} ({t}{', ' + k if k else ''})", 48)
                  for i, t, k in zip(shown["Indicator"], shown["Type"], shown["IPKind"])]
        ax.set_yticks(positions)
        ax.set_yticklabels(labels, fontsize=8)
        for y, count, tasks in zip(positions, shown["FleetDevices"], shown["TaskIds"]):
            ax.text(count, y, f" {count}  (tasks {', '.join(f'#{t}' for t in tasks[:6])})", va="center", fontsize=7.5)
        ax.set_xlabel("Devices that contacted the indicator (all processes, whole hunt window)")
        ax.set_ylabel("Indicator, rarest first")
        ax.set_xlim(0, max(int(shown["FleetDevices"].max()), 1) * 1.35)
        ax.set_title(f"{len(shown)} of {len(indicators)} indicators; hatched = public address, "
                     "0 devices = seen only in a command line", fontsize=8.5, color="0.3")
    return fig


def all_figures(result: HuntResult, top_n: int = 15) -> dict[str, Figure]:
    """The four charts by name, in the order a report shows them."""
    return {
        "score_breakdown": score_breakdown(result, top_n),
        "rare_tasks_over_time": rare_tasks_over_time(result),
        "runs_vs_devices": runs_vs_devices(result),
        "actions_per_finding": actions_per_finding(result, top_n),
    }
