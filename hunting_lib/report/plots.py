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

The figures live here; the labels in ``labels``, the frames they draw (``group_prevalence``,
``action_counts``) in ``chart_data`` and the style in ``chart_style``. This module re-exports the
labels and frames, so ``plots.short_label`` and ``plots.action_counts`` keep working.
"""

from __future__ import annotations

import matplotlib as mpl
import matplotlib.dates as mdates
import matplotlib.style as mstyle
import numpy as np
import pandas as pd
from matplotlib.colors import LogNorm, to_rgb
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, NullFormatter

from hunting_lib.engine.rarity import GROUP_KEYS
from hunting_lib.report.chart_data import action_counts, findings_of, group_prevalence, rare_tasks_of, suppressed_mask
from hunting_lib.report.chart_style import (
    CMAP,
    HATCHES,
    MARKERS,
    STYLE,
    ink_on,
    naive_utc,
    new_figure,
    nothing_to_show,
    palette,
    plain_log_axis,
)
from hunting_lib.report.labels import distinct_labels, short_label, task_labels
from hunting_lib.result import HuntResult
from hunting_lib.triage.scoring import ScoringConfig, default_scoring

__all__ = [
    "action_counts",
    "actions_per_finding",
    "all_figures",
    "distinct_labels",
    "group_prevalence",
    "indicator_prevalence",
    "rare_tasks_over_time",
    "runs_vs_devices",
    "score_breakdown",
    "short_label",
    "task_labels",
]


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
        return nothing_to_show(title, "No rare scheduled tasks in this hunt: nothing to show.")
    with mstyle.context(STYLE):
        groups = rare[GROUP_KEYS + ["TaskId"]].assign(
            _rank=np.arange(len(rare)), _suppressed=suppressed_mask(rare).to_numpy())
        starts = result.task_starts[["Timestamp", "DeviceName"] + GROUP_KEYS].merge(groups, on=GROUP_KEYS)
        hidden = 0
        if not show_suppressed:
            hidden = int(groups["_suppressed"].sum())
            starts = starts[~starts["_suppressed"]]
        starts = starts.dropna(subset=["Timestamp"])
        if starts.empty:
            return nothing_to_show(title, "No Task Scheduler starts of rare groups to draw.")

        findings = groups[~groups["_suppressed"]]
        featured = findings["TaskId"].head(max(int(top_n), 0)).tolist()
        starts = starts.assign(
            _when=naive_utc(starts["Timestamp"]),
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

        fig, ax = new_figure(11, 2.8 + 0.24 * len(devices) + 0.18 * min(len(featured), 12))
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
            colours = palette(len(featured))
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
    rare = rare_tasks_of(result)
    if rare.empty:
        return nothing_to_show(title, "No rare scheduled tasks in this hunt: nothing to score.")
    scoring = scoring or default_scoring()
    with mstyle.context(STYLE):
        shown = rare.head(max(int(top_n), 1)).reset_index(drop=True)
        signals = [s for s in scoring.signals if s in shown.columns]
        fired = shown[signals].fillna(False).astype(bool)
        weights = pd.Series(scoring.weights)[signals]
        widths = fired * weights  # rows x signals: each segment's length
        lefts = widths.cumsum(axis=1) - widths
        drawn = [s for s in signals if fired[s].any()]
        suppressed = suppressed_mask(shown).to_numpy()

        fig, ax = new_figure(11, 1.9 + 0.5 * len(shown) + 0.12 * len(drawn))
        fig.suptitle(title)
        y = np.arange(len(shown))
        colours = palette(len(drawn))
        opacity = np.where(suppressed, 0.4, 1.0)  # suppressed rows faded, still adding up
        for i, signal in enumerate(drawn):  # one call per signal (at most a dozen or so)
            rows = fired[signal].to_numpy()
            colour, ink = colours[i], to_rgb(ink_on(colours[i]))
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

def runs_vs_devices(result: HuntResult) -> Figure:
    """Run count against device count for every scheduled task group, rare ones highlighted.

    Rarity is two tests (``Count < threshold``, or ``DeviceCount <= max_devices``); drawing both
    as lines over every group shows which test kept a task and how far the common tasks are from
    the cut, which is what a reviewer needs to judge the threshold.
    """
    title = "Why a task is rare: runs against devices, per task group"
    if result.task_starts.empty:
        return nothing_to_show(title, "No Task Scheduler starts in this hunt: nothing to show.")
    params = result.params
    with mstyle.context(STYLE):
        stats = group_prevalence(result)
        fig, ax = new_figure(9.5, 6.2)
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

        plain_log_axis(ax.xaxis)
        plain_log_axis(ax.yaxis)
        ax.set_xlabel("Runs: Task Scheduler starts of the group (log scale)")
        ax.set_ylabel("Devices the group ran on (log scale)")
        ax.set_title(f"{len(stats)} task groups, {int(stats['Rare'].sum())} rare. "
                     "\u00d7n: n rare groups at one point; #n: the rare group with TaskId n",
                     fontsize=8.5, color="0.3")
        fig.legend(loc="outside lower center", ncols=2, fontsize=8)
    return fig


# --------------------------------------------------------------------------------------------
# 4. Actions per finding

def actions_per_finding(result: HuntResult, top_n: int = 15) -> Figure:
    """A heatmap of what each finding's processes did: findings x ActionType, events per cell.

    After "why is it rare" and "why does it score", the analyst asks "what did it do": one
    connection, or a registry Run key plus hundreds of connections. Rows are the ``top_n``
    findings in rank order (a blank row is a finding with no matched activity); suppressed
    groups are left out. Colour uses a log scale so one event still shows beside hundreds, and
    every cell carries its count, so the chart does not depend on colour at all.
    """
    title = "What each finding did: events by action type"
    findings = findings_of(result.rare_tasks)
    if findings.empty:
        return nothing_to_show(title, "No unsuppressed rare tasks (findings) in this hunt: nothing to show.")
    if result.activity_rows.empty:
        return nothing_to_show(title, "No activity matched the rare tasks' processes: nothing to show.")
    table = action_counts(result, top_n)
    if table.empty or table.to_numpy().sum() == 0:
        return nothing_to_show(title, "None of the top findings' processes has matched activity: nothing to show.")
    with mstyle.context(STYLE):
        shown = findings.head(len(table))  # the same findings, in the same order, as the table
        values = table.to_numpy()
        fig, ax = new_figure(min(max(6.5 + 0.62 * table.shape[1], 10.0), 16.0), 2.6 + 0.5 * len(table))
        fig.suptitle(title)
        masked = np.ma.masked_equal(values, 0)
        norm = LogNorm(vmin=1, vmax=max(int(values.max()), 2))
        cmap = mpl.colormaps[CMAP].reversed().with_extremes(bad="white")  # dark = many
        image = ax.imshow(masked, cmap=cmap, norm=norm, aspect="auto", interpolation="nearest")
        rows, cols = np.nonzero(values)
        for r, c in zip(rows, cols):  # one label per non-empty cell (findings x action types)
            count = values[r, c]
            ax.text(c, r, f"{count}", ha="center", va="center", fontsize=8,
                    color=ink_on(cmap(norm(count))))
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
        return nothing_to_show(title, "The rare tasks' processes contacted no remote address: nothing to show.")
    shown = indicators.sort_values(["FleetDevices", "Indicator"], kind="stable").head(top_n)
    with mstyle.context(STYLE):
        fig, ax = new_figure(10.0, 1.6 + 0.36 * len(shown))
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

