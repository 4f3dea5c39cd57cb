"""Pivots from one rare task: what its processes did, in order; its process tree; whom it talked to;
what else its device did on the network.

A pivot always follows process identity (device, process id, creation time) and the task's
descendants, whatever ``match`` mode the hunt used: an analyst opening a finding wants everything
its processes did, and nothing that another process with the same command line did.

msticpy draws the timeline and the process tree. Its plotting functions fall short in three
ways, all worked around in ``_captured_bokeh``/``process_tree``:

- each call runs ``reset_output(); output_notebook()``, which loads BokehJS again from a CDN for
  every plot: offline reports show "Loading BokehJS" forever and inline copies bloat them; the
  kit loads BokehJS once per document (``bokeh_setup``) and keeps msticpy from doing it;
- ``build_process_tree`` adds columns to the frame it is given (it mutates its input);
- ``plot_process_tree(legend_col="FileName")`` raises KeyError, because the built tree renames
  Defender's columns (FileName -> CreatedProcessName), and it fails on pandas' nullable Int64.
"""

from __future__ import annotations

import contextlib
from dataclasses import replace
from typing import Any, Iterator
from unittest import mock

import numpy as np
import pandas as pd

from hunting_lib.engine.addresses import ip_kind
from hunting_lib.engine.correlate import (
    ACTIVITY_COLUMNS,
    match_mode_differences,
    process_activity_rows,
    summarise_activity,
)
from hunting_lib.engine.loader import ensure_columns
from hunting_lib.engine.query import seed_literals
from hunting_lib.engine.rarity import GROUP_KEYS, window_mask
from hunting_lib.engine.slices import FindingSlices
from hunting_lib.report.output import plot_safe
from hunting_lib.result import HuntResult
from hunting_lib.schema import PROCESS_TABLE, column_type

TIMELINE_COLUMNS = ["Timestamp", "DeviceName", "Table", "ActionType", "Depth", "Process", "ProcessId", "What", "ReportId"]


# --------------------------------------------------------------------------------------------
# Events of a task's processes


def finding_slices(result: HuntResult) -> FindingSlices | None:
    """What pivots read of a hunt the parquet scan ran (no tables kept): the findings' devices
    from its files (``engine.slices``), made on first use and kept on the result. None when the
    result holds its tables (``data``) or a remote source."""
    if result.data is not None or result.remote is not None or not result.sources:
        return None
    if result.slices is None:
        result.slices = FindingSlices(dict(result.sources))
    return result.slices


def process_rows(result: HuntResult) -> pd.DataFrame:
    """Events of every rare task's processes and descendants, keyed by ``TaskId``.

    The hunt's own activity rows when it matched by process; otherwise computed once from the
    hunt's data (local), the rare groups' devices read from its files (a scanned hunt), or its
    source (remote), and cached on the result.
    """
    if "TaskId" in result.activity_rows.columns:
        return result.activity_rows
    cached = getattr(result, "_process_rows", None)
    if cached is not None:
        return cached
    slices = finding_slices(result)
    if result.data is not None:
        rows = process_activity_rows(result.data, result.task_starts, result.rare_tasks, result.params)
    elif slices is not None:
        tables = slices.tables(result.task_starts, result.rare_tasks)
        rows = process_activity_rows(tables, result.task_starts, result.rare_tasks, result.params)
    elif result.remote is not None:
        from hunting_lib.remote.hunt import remote_process_rows  # the remote engine's tree walk

        rows = remote_process_rows(result.remote, result.params, result.task_starts, result.rare_tasks)
    else:
        raise ValueError("this result keeps no data to pivot on (run the hunt from a folder or provider)")
    result._process_rows = rows
    return rows


def compare_match_modes(result: HuntResult) -> pd.DataFrame:
    """``correlate.match_mode_differences`` between this hunt's activity and the other match
    mode's, for the same rare groups (rarity does not depend on the match mode, so the other mode
    needs no second hunt): ``--match process``'s activity is ``process_rows``, which a scanned
    hunt reads from the rare groups' devices only; the seed's string match needs the loaded
    tables (a ``--match process`` hunt reads them whole) or a remote source's second run."""
    if result.params.match == "seed":
        return match_mode_differences(result.activity, summarise_activity(process_rows(result)))
    if result.data is None:
        raise ValueError("the seed's match needs the hunt's tables: run it from a folder, or the remote hunt again")
    from hunting_lib.engine.local import LocalTables  # the seed's match as the hunt runs it

    seed = replace(result.params, match="seed")
    rows = LocalTables(result.data).activity_rows(seed, result.task_starts, result.rare_tasks)
    return match_mode_differences(summarise_activity(rows), result.activity)


def _task(result: HuntResult, task_id: int) -> pd.Series:
    match = result.rare_tasks[result.rare_tasks["TaskId"] == task_id]
    if match.empty:
        raise KeyError(f"no rare task with TaskId {task_id}")
    return match.iloc[0]


def task_starts_of(result: HuntResult, task_id: int) -> pd.DataFrame:
    """The Task Scheduler's starts of one rare group."""
    task = _task(result, task_id)
    return result.task_starts.merge(task[GROUP_KEYS].to_frame().T, on=GROUP_KEYS, how="inner")


def _clip(values: pd.Series, width: int = 160) -> pd.Series:
    values = values.fillna("").astype(str)
    return values.where(values.str.len() <= width, values.str.slice(0, width - 1) + "…")


def describe_events(rows: pd.DataFrame) -> pd.Series:
    """One readable sentence per event: what the process did (vectorised per table)."""
    rows = ensure_columns(rows, PROCESS_TABLE, ACTIVITY_COLUMNS + ["LogonType", "AdditionalFields"])
    text = {c: rows[c].fillna("").astype(str) for c in (
        "FileName", "FolderPath", "ProcessCommandLine", "RemoteIP", "RemoteUrl", "RegistryKey",
        "RegistryValueName", "RegistryValueData", "AccountName", "LogonType", "AdditionalFields", "ActionType")}
    port = rows["RemotePort"].astype("Int64").astype(str).replace("<NA>", "")
    endpoint = text["RemoteIP"] + np.where(port != "", ":" + port, "") + np.where(
        text["RemoteUrl"] != "", " (" + text["RemoteUrl"] + ")", "")
    table = rows["Table"]
    choices = [
        (table == "DeviceProcessEvents", "started " + text["FileName"] + ": " + _clip(text["ProcessCommandLine"])),
        (table == "DeviceNetworkEvents", text["ActionType"] + " " + endpoint),
        (table == "DeviceFileEvents", text["ActionType"] + " " + text["FolderPath"]),
        (table == "DeviceRegistryEvents", text["ActionType"] + " " + text["RegistryKey"]
         + np.where(text["RegistryValueName"] != "", "\\" + text["RegistryValueName"], "")
         + np.where(text["RegistryValueData"] != "", " = " + _clip(text["RegistryValueData"], 80), "")),
        (table == "DeviceImageLoadEvents", "loaded " + text["FolderPath"]),
        (table == "DeviceLogonEvents", text["ActionType"] + " " + text["LogonType"] + " logon by "
         + text["AccountName"] + np.where(text["RemoteIP"] != "", " from " + text["RemoteIP"], "")),
        (table == "DeviceEvents", text["ActionType"] + " " + (text["FileName"] + " " + endpoint + " "
                                                                + _clip(text["AdditionalFields"], 80)).str.strip()),
    ]
    what = pd.Series(np.select([c for c, _ in choices], [v for _, v in choices], default=""), index=rows.index)
    return what.str.replace(r"\s+", " ", regex=True).str.strip()


def task_timeline(result: HuntResult, task_id: int) -> pd.DataFrame:
    """Every event of one rare task, in time order: its starts, its processes' and descendants'
    activity in the seven tables, with a readable ``What`` column."""
    rows = process_rows(result)
    rows = rows[rows["TaskId"] == task_id].copy()
    starts = task_starts_of(result, task_id).assign(Table=PROCESS_TABLE, Depth=-1)
    starts["ActionType"] = "ProcessCreated"
    events = pd.concat([d for d in (starts, rows) if not d.empty], ignore_index=True) if len(starts) + len(rows) else rows
    events = ensure_columns(events, PROCESS_TABLE, ACTIVITY_COLUMNS + ["Depth"])
    events["Process"] = events["InitiatingProcessFileName"]
    events["ProcessId"] = events["InitiatingProcessId"]
    events["What"] = describe_events(events)
    is_start = events["Depth"] == -1
    events.loc[is_start, "What"] = ("Task Scheduler started " + events.loc[is_start, "FileName"] + " as "
                                    + events.loc[is_start, "AccountName"].replace("", "?") + ": "
                                    + _clip(events.loc[is_start, "ProcessCommandLine"]))
    events["Depth"] = events["Depth"].astype("Int64")
    return events.sort_values(["Timestamp", "ReportId"], kind="stable").reset_index(drop=True)[TIMELINE_COLUMNS]


# --------------------------------------------------------------------------------------------
# Bokeh, once per document


#: The BokehJS parts the kit's plots use. WebGL and MathJax are left out: together they are
#: 2.3 MB of the 3.9 MB that bokeh.resources.INLINE embeds, and no plot here needs them.
BOKEH_COMPONENTS = ["bokeh", "bokeh-widgets", "bokeh-tables"]


def bokeh_setup() -> None:
    """Load BokehJS inline, once, for every plot this notebook shows (works offline)."""
    from bokeh.io import output_notebook
    from bokeh.resources import Resources

    output_notebook(resources=Resources(mode="inline", components=BOKEH_COMPONENTS), hide_banner=True)


@contextlib.contextmanager
def _captured_bokeh(module: Any) -> Iterator[list]:
    """Run a msticpy plot function without its reset_output/output_notebook/show; collect layouts."""
    shown: list = []
    with mock.patch.object(module, "reset_output", lambda *a, **k: None), \
            mock.patch.object(module, "output_notebook", lambda *a, **k: None), \
            mock.patch.object(module, "show", lambda obj, *a, **k: shown.append(obj)):
        yield shown


def timeline_plot(timeline: pd.DataFrame, group_by: str = "Table", title: str = "task events") -> Any:
    """The task's events on a msticpy timeline (bokeh), one row per ``group_by`` value."""
    from msticpy.vis import timeline as mp_timeline

    data = _plot_safe_frame(timeline.assign(What=timeline["What"].str.slice(0, 120)))
    with _captured_bokeh(mp_timeline):
        return mp_timeline.display_timeline(
            data, time_column="Timestamp", group_by=group_by, source_columns=["DeviceName", "Process", "What"],
            title=title, hide=True, legend="left", width=900)


# --------------------------------------------------------------------------------------------
# Process tree


def _plot_safe_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Every text column made safe to embed in a bokeh plot (see ``output.plot_safe``)."""
    out = frame.copy()
    for column in out.columns:
        if out[column].dtype == object:
            out[column] = plot_safe(out[column])
        elif isinstance(out[column].dtype, pd.DatetimeTZDtype):
            out[column] = out[column].dt.tz_localize(None)  # bokeh plots naive times, all UTC here
    return out


def _for_msticpy(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy msticpy can digest: nullable Int64/boolean become float/object."""
    out = frame.copy()
    for column in out.columns:
        if isinstance(out[column].dtype, pd.Int64Dtype):
            # Python ints and None: msticpy fills gaps with "NA", which Int64 refuses, and a
            # float column would show process ids as 8488.0.
            out[column] = out[column].astype(object).where(out[column].notna(), None)
        elif isinstance(out[column].dtype, pd.BooleanDtype):
            out[column] = out[column].astype(object)
    return out


#: Columns msticpy's MDE tree builder reads besides the hunt's (filled empty when absent).
_PARENT_COLUMNS = ["InitiatingProcessParentId", "InitiatingProcessParentFileName", "InitiatingProcessParentCreationTime"]


def process_tree(result: HuntResult, task_id: int) -> pd.DataFrame:
    """The task's process tree (msticpy), rooted at the Task Scheduler's svchost.

    Built from the task's start events and its descendants' ProcessCreated events. Columns are
    msticpy's (CreatedProcessName, CreatedProcessCommandLine, path, IsRoot, ...).
    """
    from msticpy.transform.proc_tree_builder import build_process_tree

    rows = process_rows(result)
    children = rows[(rows["TaskId"] == task_id) & (rows["Table"] == PROCESS_TABLE)]
    starts = task_starts_of(result, task_id)
    frame = ensure_columns(pd.concat([d for d in (starts, children) if not d.empty], ignore_index=True),
                           PROCESS_TABLE, ACTIVITY_COLUMNS + _PARENT_COLUMNS)
    frame["ActionType"] = "ProcessCreated"
    # msticpy needs the svchost's own parent to place the svchost; exports that leave it empty
    # get a placeholder, which is dropped below with the other roots above the svchost.
    unknown = frame["InitiatingProcessParentId"].isna()
    frame.loc[unknown, "InitiatingProcessParentId"] = 0
    frame.loc[unknown, "InitiatingProcessParentFileName"] = "(unknown parent)"
    frame["InitiatingProcessParentCreationTime"] = frame["InitiatingProcessParentCreationTime"].fillna(
        frame["InitiatingProcessCreationTime"])
    tree = build_process_tree(_for_msticpy(frame))  # gets a copy: it mutates what it is given
    # msticpy also infers the svchost's own parent (services.exe); the task's tree starts at svchost.
    above = tree["IsRoot"] & tree["CreatedProcessName"].str.lower().ne(seed_literals().parent_file_name.lower())
    return tree[~above]


#: Defender column names and what msticpy's built tree calls them.
_TREE_COLUMNS = {"FileName": "CreatedProcessName", "ProcessCommandLine": "CreatedProcessCommandLine",
                 "ProcessId": "CreatedProcessId", "AccountName": "CreatedProcessAccountName",
                 "FolderPath": "CreatedProcessFilePath"}


def process_tree_plot(tree: pd.DataFrame, legend_col: str = "FileName", title: str = "Task process tree") -> Any:
    """msticpy's process tree plot (bokeh) for ``process_tree``; ``legend_col`` may use Defender names."""
    from msticpy.vis import process_tree as mp_tree

    legend = _TREE_COLUMNS.get(legend_col, legend_col)
    with _captured_bokeh(mp_tree) as shown:
        mp_tree.plot_process_tree(_plot_safe_frame(_for_msticpy(tree)), legend_col=legend, title=title,
                                  height=300, pid_fmt="dec")
    return shown[-1] if shown else None


# --------------------------------------------------------------------------------------------
# Network indicators


INDICATOR_COLUMNS = ["Indicator", "Type", "IPKind", "Ports", "Urls", "FirstSeen", "LastSeen", "Events",
                     "TaskIds", "FleetDevices", "FleetProcesses", "Source"]


def network_indicators(result: HuntResult, task_id: int | None = None) -> pd.DataFrame:
    """Remote IPs and URLs the task's processes contacted, plus IoCs from its command lines.

    Each indicator gets public/private, ports, first and last contact, the tasks involved and its
    fleet prevalence: how many devices contacted it at all, with which processes (from the
    hunt's network table, all processes, not only the tasks').
    """
    rows = process_rows(result)
    if task_id is not None:
        rows = rows[rows["TaskId"] == task_id]
    contacts = rows[rows["RemoteIP"].fillna("").ne("")] if len(rows) else rows
    observed = pd.DataFrame(columns=INDICATOR_COLUMNS)
    if len(contacts):
        grouped = contacts.groupby("RemoteIP", sort=True)
        observed = pd.DataFrame({
            "Indicator": list(grouped.groups),
            "Type": "ip",
            "Ports": grouped["RemotePort"].agg(lambda v: sorted({int(p) for p in v.dropna()})).to_numpy(),
            "Urls": grouped["RemoteUrl"].agg(lambda v: sorted({u for u in v.fillna("") if u})).to_numpy(),
            "FirstSeen": grouped["Timestamp"].min().to_numpy(),
            "LastSeen": grouped["Timestamp"].max().to_numpy(),
            "Events": grouped.size().to_numpy(),
            "TaskIds": grouped["TaskId"].agg(lambda v: sorted({int(t) for t in v})).to_numpy(),
            "Source": "activity",
        })
    tasks = result.rare_tasks if task_id is None else result.rare_tasks[result.rare_tasks["TaskId"] == task_id]
    from_commands = _command_iocs(tasks)
    if len(from_commands):
        from_commands = from_commands.groupby(["Indicator", "Type"], as_index=False).agg(
            TaskIds=("TaskId", lambda v: sorted({int(t) for t in v})))
        from_commands["Source"] = "command line"
    combined = pd.concat([d for d in (observed, from_commands) if len(d)], ignore_index=True) \
        if len(observed) or len(from_commands) else pd.DataFrame(columns=INDICATOR_COLUMNS)
    if combined.empty:
        return combined[INDICATOR_COLUMNS]
    combined = combined.groupby(["Indicator", "Type"], as_index=False, sort=True).agg({
        "Ports": "first", "Urls": "first", "FirstSeen": "min", "LastSeen": "max", "Events": "sum",
        "TaskIds": lambda v: sorted({t for ids in v for t in ids}), "Source": lambda v: ", ".join(sorted(set(v)))})
    combined["IPKind"] = np.where(combined["Type"] == "ip", combined["Indicator"].map(ip_kind), "")
    for column in ("Ports", "Urls"):
        combined[column] = combined[column].map(lambda v: v if isinstance(v, list) else [])
    prevalence = fleet_prevalence(result, combined)
    combined = combined.merge(prevalence, on=["Indicator", "Type"], how="left")
    combined["FleetDevices"] = combined["FleetDevices"].fillna(0).astype(int)
    combined["Events"] = combined["Events"].fillna(0).astype(int)
    combined["FleetProcesses"] = combined["FleetProcesses"].map(lambda v: v if isinstance(v, list) else [])
    return combined.sort_values(["FleetDevices", "Indicator"], kind="stable").reset_index(drop=True)[INDICATOR_COLUMNS]


def _command_iocs(tasks: pd.DataFrame) -> pd.DataFrame:
    """The IoCs in the tasks' command lines: one row per TaskId, Type (ip, url, dns, ...), Indicator."""
    if "Indicators" not in tasks:  # a hunt run with indicators=False
        from hunting_lib.triage.scoring import command_indicators

        tasks = tasks.assign(Indicators=command_indicators(tasks["ProcessCommandLine"], tasks["DecodedCommand"]))
    iocs = tasks[["TaskId", "Indicators"]].explode("Indicators").dropna(subset=["Indicators"])
    if iocs.empty:
        return pd.DataFrame(columns=["Type", "Indicator", "TaskId"])
    split = iocs["Indicators"].str.split(":", n=1, expand=True)
    return pd.DataFrame({"Type": split[0].replace({"ipv4": "ip", "ipv6": "ip"}), "Indicator": split[1],
                         "TaskId": iocs["TaskId"].to_numpy()})


#: The columns of ``device_network``: the hunt's columns that the network table has.
NETWORK_TABLE = "DeviceNetworkEvents"
NETWORK_COLUMNS = [c for c in ACTIVITY_COLUMNS if column_type(NETWORK_TABLE, c) is not None]


def device_network(result: HuntResult, device: str, start: Any = None, end: Any = None) -> pd.DataFrame:
    """Every network event of one device (``DeviceName``, exact) between ``start`` and ``end``
    (both inclusive; the hunt's window by default), newest first: whom else did the device talk
    to around the task's runs, whichever process did it?

    Read from the hunt's tables (local), or with the ``device_network`` query (remote, cut
    results split like every remote query). Columns: ``NETWORK_COLUMNS``, typed alike.
    """
    window = replace(result.params, start=result.params.start if start is None else start,
                     end=result.params.end if end is None else end)
    slices = finding_slices(result)
    if result.data is not None or slices is not None:
        network = result.data.get(NETWORK_TABLE) if result.data is not None else slices.device_network(
            device, NETWORK_COLUMNS)
        network = ensure_columns(network if network is not None else pd.DataFrame(), NETWORK_TABLE, NETWORK_COLUMNS)
        keep = network["DeviceName"].eq(device).to_numpy(dtype=bool) & window_mask(network["Timestamp"], window)
        rows = network.loc[keep, NETWORK_COLUMNS]
    elif result.remote is not None:
        from hunting_lib.remote.provider import concat_pieces, run_complete, typed_rows  # remote hunts only

        found = concat_pieces(run_complete(result.remote, "device_network", window.start, window.end, device=device))
        rows = typed_rows(found, NETWORK_TABLE, NETWORK_COLUMNS)[NETWORK_COLUMNS]
    else:
        raise ValueError("this result keeps no data to pivot on (run the hunt from a folder or provider)")
    return rows.sort_values(["Timestamp", "ReportId"], ascending=False, kind="stable").reset_index(drop=True)


def _host(urls: pd.Series) -> pd.Series:
    """The lower-cased host of a URL or bare host name (worked out once per distinct URL)."""
    codes, uniques = pd.factorize(urls.fillna(""), sort=False)
    hosts = pd.Series(uniques, dtype=object).str.lower().str.replace(r"^[a-z][a-z0-9+.-]*://", "", regex=True)
    hosts = hosts.str.split(r"[/:?#]", n=1, regex=True).str[0].to_numpy(dtype=object)
    return pd.Series(hosts[codes] if len(hosts) else np.full(len(urls), "", dtype=object), index=urls.index)


def fleet_prevalence(result: HuntResult, indicators: pd.DataFrame) -> pd.DataFrame:
    """For each indicator: how many devices contacted it in the hunt's data, and which processes."""
    columns = ["Indicator", "Type", "FleetDevices", "FleetProcesses"]
    if indicators.empty:
        return pd.DataFrame(columns=columns)
    ips = set(indicators.loc[indicators["Type"] == "ip", "Indicator"])
    hosts = {h for h in _host(indicators.loc[indicators["Type"].isin(["url", "dns"]), "Indicator"]) if h}
    slices = finding_slices(result)
    if result.data is not None:
        network = result.data.get(NETWORK_TABLE)
    elif slices is not None:  # a scanned hunt: the fleet's contacts of the hunt's indicators, read once
        every = _command_iocs(result.rare_tasks)
        contacted = process_rows(result)["RemoteIP"].dropna().unique()
        every_ips = ips | set(every.loc[every["Type"] == "ip", "Indicator"]) | {ip for ip in contacted if ip}
        every_hosts = hosts | {h for h in _host(every.loc[every["Type"].isin(["url", "dns"]), "Indicator"]) if h}
        network = slices.indicator_contacts(every_ips, every_hosts)
    elif result.remote is not None and (ips or hosts):  # one query: the fleet's distinct contacts
        from hunting_lib.remote.provider import concat_pieces, run_complete  # remote hunts only

        found = concat_pieces(run_complete(result.remote, "indicator_contacts", result.params.start,
                                           result.params.end, ips=sorted(ips), hosts=sorted(hosts)))
        network = found.drop_duplicates()  # the pieces of a split window may repeat a row
    else:
        network = None
    if network is None or network.empty:
        return pd.DataFrame(columns=columns)
    frame = network[["DeviceName", "InitiatingProcessFileName", "RemoteIP", "RemoteUrl"]]
    by_ip = frame[frame["RemoteIP"].isin(ips)].assign(Key=lambda f: f["RemoteIP"])
    # A URL's host may be a name (matched against RemoteUrl) or an address (against RemoteIP).
    by_name = frame.assign(Key=_host(frame["RemoteUrl"]))
    by_host = pd.concat([by_name[by_name["Key"].isin(hosts)],
                         frame[frame["RemoteIP"].isin(hosts)].assign(Key=lambda f: f["RemoteIP"])])
    counts = []
    for kinds, hits in ((["ip"], by_ip), (["url", "dns"], by_host)):
        if hits.empty:
            continue
        grouped = hits.groupby("Key")
        stats = pd.DataFrame({"FleetDevices": grouped["DeviceName"].nunique(),
                              "FleetProcesses": grouped["InitiatingProcessFileName"].agg(lambda v: sorted(set(v)))})
        wanted = indicators[indicators["Type"].isin(kinds)].assign(
            Key=lambda f: f["Indicator"] if kinds == ["ip"] else _host(f["Indicator"]))
        counts.append(wanted.merge(stats, left_on="Key", right_index=True)[columns])
    return pd.concat(counts, ignore_index=True) if counts else pd.DataFrame(columns=columns)
