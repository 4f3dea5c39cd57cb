"""The hunt where the data lives: Sentinel, Defender XDR or ADX through a msticpy QueryProvider.

The rarity and the correlation run in KQL on the remote engine; only their results come back.
The queries are msticpy query templates (``queries/msticpy/``) whose text the kit renders from
the published query (``hunting_lib.kql``), with every value escaped.

Completeness comes first. Services cut results: the Defender advanced-hunting API returns at most
100,000 rows, Log Analytics 500,000 rows (and may return *partial* results on a timeout), ADX
500,000 rows by default. A cut result is never used: the time range is split in two and each half
queried again, until every piece is complete. Group counts from several pieces are summed
*before* the threshold is applied, never thresholded per piece; row results are concatenated.
When a piece cannot be split further, the hunt stops with a clear message.
"""

from __future__ import annotations

import json
import time
import warnings
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable

import pandas as pd

from .correlate import (
    ACTIVITY_COLUMNS,
    MAX_DEPTH,
    process_starts,
    rows_of_tree,
    stack_newest_first,
    summarise_activity,
    task_process_tree,
)
from .errors import BadInputError, DataWarning
from .exclusions import DEFAULT_EXCLUSIONS, load_exclusions
from .fleet import FleetContext, group_keys, public_ips
from .hunt import HuntResult
from .known_tasks import load_known_tasks
from .kql import (
    dialect,
    render_activity_rows_kql,
    render_device_network_kql,
    render_file_certificates_kql,
    render_file_profiles_kql,
    render_flagged_launches_kql,
    render_fleet_groups_kql,
    render_hunt_kql,
    render_ip_devices_kql,
    render_rare_tasks_kql,
    render_rows_by_process_kql,
    render_task_start_groups_kql,
    render_task_starts_kql,
)
from .loader import apply_schema, ensure_columns
from .params import DEFAULT_KNOWN_TASKS, HuntParams
from .paths import normalised
from .rarity import GROUP_KEYS, TASK_START_COLUMNS, rare_from_statistics
from .schema import PROCESS_TABLE, TABLES
from .scope import annotate_scope, with_host_groups
from .triage import triage

QUERY_DIR = Path(__file__).resolve().parent / "queries" / "msticpy"
FAMILY = "RareScheduledTasks"

#: Rows at or above which a result counts as cut by the service.
ROW_LIMITS: dict[str, int] = {
    "MDE": 100_000, "M365D": 100_000, "M365DGraph": 100_000,
    "MSSentinel": 500_000, "MSSentinel_New": 500_000,
    "Kusto": 500_000, "Kusto_New": 500_000,
}
#: The smallest time piece the hunt will split down to before it gives up.
MIN_PIECE = pd.Timedelta(minutes=1)
#: Retries for throttling and transient failures, and the longest wait between them.
RETRIES = 3
MAX_WAIT_SECONDS = 60.0


class RemoteQueryError(RuntimeError):
    """A remote query failed for good, or its result could not be made complete."""


class IncompleteResult(Exception):
    """A result the service cut (row limit) or returned partially; the caller splits the range."""


# --------------------------------------------------------------------------------------------
# msticpy query templates, made safe


def _renderers() -> dict[str, Callable[..., str]]:
    def rare_scheduled_tasks(params: HuntParams, target, values: dict) -> str:
        return render_rare_tasks_kql(params, load_exclusions(params.exclusions), target,
                                     load_known_tasks(params.known_tasks))

    return {
        "rare_scheduled_tasks": rare_scheduled_tasks,
        "rare_task_activity": lambda p, t, v: render_hunt_kql(p, target=t),
        "task_start_groups": lambda p, t, v: render_task_start_groups_kql(p, t),
        "task_starts": lambda p, t, v: render_task_starts_kql(p, v["groups"], TASK_START_COLUMNS, t),
        "task_activity_rows": lambda p, t, v: render_activity_rows_kql(p, v["groups"], ACTIVITY_COLUMNS, t),
        "process_events": lambda p, t, v: render_rows_by_process_kql(
            p, v["processes"], ACTIVITY_COLUMNS, v.get("tables") or TABLES, t),
        "device_network": lambda p, t, v: render_device_network_kql(p, str(v["device"]), t),
        "flagged_launches": lambda p, t, v: render_flagged_launches_kql(p, TASK_START_COLUMNS, t),
        "fleet_groups": lambda p, t, v: render_fleet_groups_kql(p, t),
        "ip_devices": lambda p, t, v: render_ip_devices_kql(p, v["ips"], t),
        "file_profiles": lambda p, t, v: render_file_profiles_kql(p, v["sha1s"], t),
        "file_certificates": lambda p, t, v: render_file_certificates_kql(p, v["sha1s"], t),
    }


def _exclusions(value: Any, default: str = DEFAULT_EXCLUSIONS) -> str | None:
    if value in (None, "", "default"):
        return default
    return None if str(value).lower() == "none" else str(value)


def _params_from(values: dict[str, Any]) -> HuntParams:
    """A HuntParams from a template call's parameter values (msticpy passes datetimes)."""
    max_devices = values.get("max_devices") or None
    return HuntParams(
        start=values.get("start"),
        end=values.get("end"),
        threshold=int(values.get("threshold", 3)),
        max_devices=None if max_devices is None else int(max_devices),
        parent_command_lines=tuple(values.get("parent_command_lines") or HuntParams().parent_command_lines),
        exclusions=_exclusions(values.get("exclusions")),
        known_tasks=_exclusions(values.get("known_tasks"), DEFAULT_KNOWN_TASKS),
        scope=str(values.get("scope") or "extended"),
    )


def secure(provider) -> Any:
    """Render the kit's msticpy queries with the kit's escaping, not ``str.format``.

    msticpy substitutes template parameters with ``str.format``; list items only get quoted with
    ``'`` (on Sentinel) and backslashes are never escaped. For each query of this family, the
    provider's ``create_query`` is replaced by the kit's renderer. Returns the provider.
    """
    store = provider.query_store
    sources = store.data_families.get(FAMILY, {})
    if not sources:
        raise BadInputError(f"the provider has no {FAMILY} queries; load {QUERY_DIR} in its query_paths")
    renderers = _renderers()
    for name, source in sources.items():
        if name not in renderers:
            continue

        def create_query(formatters=None, _source=source, _render=renderers[name], **kwargs) -> str:
            values = {n: spec.get("default") for n, spec in _source.params.items()}
            values.update(_source.resolve_param_aliases(kwargs))
            target = dialect(values.get("dialect") or "defender", values.get("table_names") or None)
            return _render(_params_from(values), target, values)

        source.create_query = create_query
    return provider


def query_provider(environment: str, **kwargs) -> Any:
    """A msticpy ``QueryProvider`` for ``environment`` with the kit's queries loaded and secured.

    ``environment`` is a msticpy data environment: MSSentinel, MDE, M365D, M365DGraph or Kusto.
    Connect it as usual (``provider.connect(...)``) before running queries.
    """
    from msticpy.data import QueryProvider  # heavy import, only for remote hunts

    return secure(QueryProvider(environment, query_paths=[str(QUERY_DIR)], **kwargs))


# --------------------------------------------------------------------------------------------
# Running one query completely


@dataclass
class RemoteSource:
    """A connected, secured provider and how to talk to it."""

    provider: Any
    dialect: str = "defender"
    table_names: dict[str, str] | None = None
    row_limit: int | None = None
    sleep: Callable[[float], None] = time.sleep

    @property
    def limit(self) -> int:
        if self.row_limit is not None:
            return self.row_limit
        environment = getattr(self.provider, "environment_name", "")
        return ROW_LIMITS.get(str(environment), 100_000)


def _retry_after(error: Exception) -> float | None:
    """Seconds to wait before retrying, for throttling and transient failures; None: do not retry."""
    response = getattr(error, "response", None)
    status = getattr(error, "status_code", None) or getattr(response, "status_code", None)
    text = str(error).lower()
    if status == 429 or "429" in text or "too many requests" in text or "throttl" in text:
        headers = getattr(response, "headers", None) or getattr(error, "headers", None) or {}
        try:
            return min(float(headers.get("Retry-After", 5)), MAX_WAIT_SECONDS)
        except (TypeError, ValueError):
            return 5.0
    if isinstance(error, TimeoutError) or "timed out" in text or "timeout" in text or status in (502, 503, 504):
        return 2.0
    return None


def _is_partial(error: Exception) -> bool:
    return "partial" in str(error).lower()


#: Columns each query's result must have; a missing one means the remote schema changed.
EXPECTED_COLUMNS: dict[str, list[str]] = {
    "task_start_groups": GROUP_KEYS + ["Count", "Devices", "Accounts", "FirstSeen", "LastSeen"],
    "task_starts": GROUP_KEYS + ["Timestamp", "DeviceName", "ProcessId"],
    "flagged_launches": GROUP_KEYS + ["Timestamp", "DeviceName", "ProcessId", "HostTripwires"],
    "fleet_groups": GROUP_KEYS + ["Devices", "Aggregated"],
    "ip_devices": ["RemoteIP", "Devices"],
    "task_activity_rows": ["SourceTable", "Timestamp", "DeviceName", "InitiatingProcessFileName",
                           "InitiatingProcessId", "InitiatingProcessCommandLine"],
    "process_events": ["SourceTable", "Timestamp", "DeviceName", "InitiatingProcessId"],
}


def _run_once(source: RemoteSource, name: str, start: pd.Timestamp, end: pd.Timestamp, **values) -> pd.DataFrame:
    """One query for one time piece; raises IncompleteResult when the service cut the result."""
    query = getattr(getattr(source.provider, FAMILY), name)
    for attempt in range(RETRIES + 1):
        try:
            # pandas Timestamps keep Kusto's 100 ns ticks (a datetime would drop them and leave
            # gaps between pieces); they pass through msticpy to the kit's renderer unchanged.
            result = query(start=start, end=end, dialect=source.dialect,
                           table_names=source.table_names or {}, fail_on_partial=True, **values)
            break
        except Exception as error:  # drivers raise their own types; classify by content
            if _is_partial(error):
                raise IncompleteResult(f"{name}: partial results") from None
            wait = _retry_after(error)
            if wait is None or attempt == RETRIES:
                detail = " ".join(str(error).split())[:300]
                raise RemoteQueryError(f"{name} failed: {type(error).__name__}: {detail}") from None
            source.sleep(wait)
    if not isinstance(result, pd.DataFrame):
        raise RemoteQueryError(f"{name} returned no table ({type(result).__name__}); the query failed")
    missing = [c for c in EXPECTED_COLUMNS.get(name, []) if c not in result.columns]
    if missing and not result.empty:
        raise RemoteQueryError(
            f"{name} returned no column {missing[0]}: the remote table's schema is not the one the "
            "hunt expects (renamed table or column? see dialect and table_names)")
    if len(result) >= source.limit:
        raise IncompleteResult(f"{name}: {len(result)} rows, at the service's limit of {source.limit}")
    return result


def run_complete(
    source: RemoteSource, name: str, start: pd.Timestamp, end: pd.Timestamp, **values
) -> list[pd.DataFrame]:
    """The query's results over [start, end], as complete pieces (split in two while cut)."""
    try:
        return [_run_once(source, name, start, end, **values)]
    except IncompleteResult as cut:
        if end - start < MIN_PIECE:
            raise RemoteQueryError(
                f"{cut}; even {start.isoformat()} .. {end.isoformat()} is too much for one query. "
                "Narrow the hunt (fewer devices, or exclusions), or raise the service's limit"
            ) from None
        middle = start + (end - start) / 2
        middle = middle.floor("100ns")
        return (run_complete(source, name, start, middle, **values)
                + run_complete(source, name, middle + pd.Timedelta(100, "ns"), end, **values))


def _typed(frame: pd.DataFrame, table: str, columns: list[str]) -> pd.DataFrame:
    """A remote result typed like the loader types files (Kusto returns the same types)."""
    frame = apply_schema(frame.reset_index(drop=True), table, Path(f"{table} (remote)"))
    return ensure_columns(frame, table, columns)


def _concat(pieces: list[pd.DataFrame]) -> pd.DataFrame:
    pieces = [p for p in pieces if not p.empty]
    return pd.concat(pieces, ignore_index=True) if pieces else pd.DataFrame()


# --------------------------------------------------------------------------------------------
# The hunt


def _as_list(value: Any) -> list:
    """A make_set result: drivers return a list, an array, or JSON text."""
    if isinstance(value, str):
        return list(json.loads(value)) if value else []
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return []
    return list(value)


def _merge_group_statistics(pieces: list[pd.DataFrame]) -> pd.DataFrame:
    """Sum counts and unite device/account sets across time pieces, before any threshold."""
    columns = GROUP_KEYS + ["Count", "Devices", "Accounts", "FirstSeen", "LastSeen"]
    frame = _concat(pieces)
    if frame.empty:
        empty = pd.DataFrame({c: pd.Series(dtype=object) for c in columns})
        return empty.astype({"Count": "int64", "FirstSeen": "datetime64[ns, UTC]", "LastSeen": "datetime64[ns, UTC]"})
    frame = apply_schema(frame, PROCESS_TABLE, Path("task_start_groups (remote)"))
    for column in ("FirstSeen", "LastSeen"):
        frame[column] = pd.to_datetime(frame[column], utc=True, format="ISO8601")
    frame["Devices"] = frame["Devices"].map(_as_list)
    frame["Accounts"] = frame["Accounts"].map(_as_list)
    grouped = frame.groupby(GROUP_KEYS, sort=False, dropna=False)
    merged = grouped.agg(Count=("Count", "sum"), FirstSeen=("FirstSeen", "min"), LastSeen=("LastSeen", "max"))
    merged["Devices"] = grouped["Devices"].agg(lambda lists: sorted({d for v in lists for d in v}))
    merged["Accounts"] = grouped["Accounts"].agg(lambda lists: sorted({a for v in lists for a in v}))
    return merged.reset_index()[columns]


def _window(params: HuntParams) -> tuple[pd.Timestamp, pd.Timestamp]:
    end = params.end or pd.Timestamp.now(tz="UTC").floor("s")
    start = params.start or end - pd.Timedelta(days=30)
    return start, end


def remote_process_rows(source: RemoteSource, params: HuntParams, task_starts: pd.DataFrame,
                        rare_tasks: pd.DataFrame) -> pd.DataFrame:
    """--match process remotely: walk the process tree level by level, then fetch its events."""
    start, end = params.start, params.end  # remote_hunt has set the window
    processes = task_starts.copy()
    known = processes
    for _ in range(MAX_DEPTH):
        frontier = known[["DeviceName", "ProcessId"]].dropna().drop_duplicates()
        if frontier.empty:
            break
        children = _typed(_concat(run_complete(source, "process_events", start, end, processes=frontier,
                                               tables=[PROCESS_TABLE])), PROCESS_TABLE, ACTIVITY_COLUMNS)
        new = children.merge(processes[["DeviceName", "ProcessId", "ProcessCreationTime"]],
                             on=["DeviceName", "ProcessId", "ProcessCreationTime"], how="left", indicator=True)
        new = new[new["_merge"] == "left_only"].drop(columns="_merge")
        if new.empty:
            break
        processes = pd.concat([processes, new], ignore_index=True)
        known = new
    processes = ensure_columns(processes, PROCESS_TABLE, ACTIVITY_COLUMNS + TASK_START_COLUMNS)
    tree = task_process_tree(processes, task_starts, rare_tasks)
    rows = _concat(run_complete(source, "process_events", start, end, processes=tree[["DeviceName", "ProcessId"]]))
    pieces = []
    starts = process_starts(processes)
    for table, frame in rows.groupby("SourceTable", sort=False) if not rows.empty else []:
        canonical = _canonical_table(source, table)
        typed = _typed(frame.drop(columns="SourceTable"), canonical, ACTIVITY_COLUMNS)
        matched = rows_of_tree(typed, tree, starts)
        if not matched.empty:
            pieces.append(matched.assign(Table=canonical))
    return stack_newest_first(pieces, ["Table"] + ACTIVITY_COLUMNS + ["TaskId", "Depth"])


def _canonical_table(source: RemoteSource, name: str) -> str:
    names = dialect(source.dialect, source.table_names).tables
    reverse = {renamed: table for table, renamed in names.items()}
    return reverse.get(name, name)


def _seed_rows(source: RemoteSource, params: HuntParams, rare_tasks: pd.DataFrame) -> pd.DataFrame:
    rows = _concat(run_complete(source, "task_activity_rows", params.start, params.end,
                                groups=rare_tasks[GROUP_KEYS]))
    pieces = []
    for table, frame in rows.groupby("SourceTable", sort=False) if not rows.empty else []:
        canonical = _canonical_table(source, table)
        pieces.append(_typed(frame.drop(columns="SourceTable"), canonical, ACTIVITY_COLUMNS).assign(Table=canonical))
    return stack_newest_first(pieces, ["Table"] + ACTIVITY_COLUMNS)


def _host_rows(source: RemoteSource, params: HuntParams, task_starts: pd.DataFrame,
               host_groups: pd.DataFrame) -> pd.DataFrame:
    """The events of the System32 task-host processes a host tripwire brought in (by process)."""
    tree = task_process_tree(task_starts, task_starts, host_groups, max_depth=0)
    rows = _concat(run_complete(source, "process_events", params.start, params.end,
                                processes=tree[["DeviceName", "ProcessId"]]))
    pieces = []
    starts = process_starts(task_starts)
    for table, frame in rows.groupby("SourceTable", sort=False) if not rows.empty else []:
        canonical = _canonical_table(source, table)
        matched = rows_of_tree(_typed(frame.drop(columns="SourceTable"), canonical, ACTIVITY_COLUMNS), tree, starts)
        if not matched.empty:
            pieces.append(matched.assign(Table=canonical))
    return stack_newest_first(pieces, ["Table"] + ACTIVITY_COLUMNS + ["TaskId", "Depth"])


def remote_fleet(source: RemoteSource, params: HuntParams, activity_rows: pd.DataFrame) -> FleetContext:
    """The fleet's baseline from two aggregate queries: launches per group with their devices,
    and devices per public IP the rare tasks' processes contacted."""
    groups = _concat(run_complete(source, "fleet_groups", params.start, params.end))
    if groups.empty:
        return FleetContext()
    groups["Devices"] = groups["Devices"].map(_as_list)  # the aggregated-reports row has none
    keyed = pd.DataFrame({"key": group_keys(groups), "program": normalised(groups["FolderPath"]),
                          "Devices": groups["Devices"]}).explode("Devices").dropna()
    task_devices = keyed.groupby("key")["Devices"].nunique().astype("int64")
    program_devices = keyed.groupby("program")["Devices"].nunique().astype("int64")
    ips = public_ips(activity_rows["RemoteIP"]) if "RemoteIP" in activity_rows else set()
    ip_devices = pd.Series(dtype="int64")
    if ips:
        found = _concat(run_complete(source, "ip_devices", params.start, params.end, ips=sorted(ips)))
        if not found.empty:
            found["Devices"] = found["Devices"].map(_as_list)
            ip_devices = found.explode("Devices").dropna().groupby("RemoteIP")["Devices"].nunique().astype("int64")
    return FleetContext(int(keyed["Devices"].nunique()), task_devices, ip_devices,
                        int(pd.to_numeric(groups["Aggregated"], errors="coerce").fillna(0).sum()), program_devices)


def _optional(source: RemoteSource, name: str, params: HuntParams, **values) -> pd.DataFrame:
    """A query that a service may not offer (FileProfile on Sentinel, a table not ingested): its
    result, or an empty frame and a warning that names what is missing."""
    try:
        return _concat(run_complete(source, name, params.start, params.end, **values))
    except RemoteQueryError as error:
        warnings.warn(f"{name} is not available here, the hunt goes on without it: {error}", DataWarning,
                      stacklevel=2)
        return pd.DataFrame()


def file_information(source: RemoteSource, params: HuntParams, rare_tasks: pd.DataFrame,
                     task_starts: pd.DataFrame) -> pd.DataFrame:
    """Per rare group, what Defender knows of its program's file: ``SignatureState`` (Valid,
    Unsigned, Invalid, ...) and ``GlobalPrevalence``, from FileProfile() (Defender XDR) and
    DeviceFileCertificateInfo, by the SHA1 of the group's launches."""
    launches = task_starts.merge(rare_tasks[GROUP_KEYS + ["TaskId"]], on=GROUP_KEYS, how="inner")
    hashes = launches[["TaskId", "SHA1"]].dropna()
    hashes = hashes[hashes["SHA1"].astype(str).str.fullmatch(r"[0-9a-fA-F]{40}")].drop_duplicates()
    columns = ["TaskId", "SignatureState", "GlobalPrevalence"]
    if hashes.empty:
        return pd.DataFrame(columns=columns)
    sha1s = sorted(set(hashes["SHA1"].str.lower()))
    hashes = hashes.assign(SHA1=hashes["SHA1"].str.lower())
    pieces = []
    if source.dialect == "defender":  # FileProfile() enriches at most 100 files a call
        profiles = _concat([_optional(source, "file_profiles", params, sha1s=sha1s[i:i + 100])
                            for i in range(0, len(sha1s), 100)])
        if not profiles.empty:
            states = profiles["SignatureState"].astype(str).str.lower()
            profiles = profiles.assign(SHA1=profiles["SHA1"].astype(str).str.lower(), SignatureState=states.map(
                {"signedvalid": "Valid", "signedinvalid": "Invalid", "unsigned": "Unsigned"}).fillna("Unknown"))
            pieces.append(profiles[["SHA1", "SignatureState", "GlobalPrevalence"]])
    certificates = _optional(source, "file_certificates", params, sha1s=sha1s)
    if not certificates.empty:
        signed = certificates["IsSigned"].astype(str).str.lower().isin(["true", "1"])
        trusted = certificates["IsTrusted"].astype(str).str.lower().isin(["true", "1"])
        state = pd.Series("Valid", index=certificates.index).where(trusted, "Untrusted").where(signed, "Unsigned")
        pieces.append(pd.DataFrame({"SHA1": certificates["SHA1"].astype(str).str.lower(), "SignatureState": state,
                                    "GlobalPrevalence": pd.NA}))
    if not pieces:
        return pd.DataFrame(columns=columns)
    return hashes.merge(pd.concat(pieces, ignore_index=True), on="SHA1", how="inner")[columns]


def remote_hunt(source: RemoteSource | Any, params: HuntParams | None = None, indicators: bool = True) -> HuntResult:
    """The hunt on a connected provider; the result has the local engine's columns.

    Rarity runs remotely as group statistics (merged across time pieces, then thresholded);
    the rare groups' launches, the flagged System32 task hosts and the matched events come back
    as rows; the fleet's baseline as two aggregates; each rare program's signature and global
    prevalence from Defender. The summary and the triage then run on them with the same code as a
    local hunt.
    """
    source = source if isinstance(source, RemoteSource) else RemoteSource(secure(source))
    params = params or HuntParams()
    start, end = _window(params)
    params = replace(params, start=start, end=end)
    statistics = _merge_group_statistics(run_complete(source, "task_start_groups", start, end))
    rare_tasks = rare_from_statistics(statistics, params)
    columns = TASK_START_COLUMNS + ["TaskHost", "InScopeBy", "Events"]
    task_starts = ensure_columns(pd.DataFrame(), PROCESS_TABLE, columns)
    if not rare_tasks.empty:
        raw = _concat(run_complete(source, "task_starts", start, end, groups=rare_tasks[GROUP_KEYS]))
        # The server filtered the three values independently; keep exact group members.
        task_starts = _launches(raw, columns).merge(rare_tasks[GROUP_KEYS], on=GROUP_KEYS, how="inner")
    if params.scope == "extended":
        flagged = _launches(_concat(run_complete(source, "flagged_launches", start, end)), columns + ["HostTripwires"])
        flagged["HostTripwires"] = flagged["HostTripwires"].map(lambda v: sorted(_as_list(v)))
        rare_tasks, task_starts = with_host_groups(rare_tasks, task_starts, flagged, params)
    rare_tasks = annotate_scope(rare_tasks, task_starts)
    activity_rows = pd.DataFrame(columns=["Table"] + ACTIVITY_COLUMNS)
    if not rare_tasks.empty:
        if params.match == "process":
            activity_rows = remote_process_rows(source, params, task_starts, rare_tasks)
        else:
            by_host = rare_tasks["RareBy"].eq("tripwire")
            pieces = [_seed_rows(source, params, rare_tasks[~by_host])] if (~by_host).any() else []
            if by_host.any():
                pieces.append(_host_rows(source, params, task_starts, rare_tasks[by_host]))
            if pieces:
                activity_rows = stack_newest_first(pieces, list(dict.fromkeys(c for p in pieces for c in p.columns)))
    activity_rows = ensure_columns(activity_rows, PROCESS_TABLE, ACTIVITY_COLUMNS)
    activity = summarise_activity(activity_rows)
    fleet = remote_fleet(source, params, activity_rows)
    file_info = file_information(source, params, rare_tasks, task_starts) if not rare_tasks.empty else None
    rare_tasks, exclusions = triage(rare_tasks, task_starts, activity_rows, params, fleet, file_info, indicators)
    sources = {"provider": type(source.provider).__name__, "dialect": source.dialect}
    return HuntResult(params, rare_tasks, activity, task_starts, activity_rows, exclusions, sources, fleet=fleet,
                      remote=source)


def _launches(raw: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """Launches from a remote result, typed like the loader's, with the scope's columns."""
    frame = _typed(raw, PROCESS_TABLE, [c for c in columns if c not in ("TaskHost", "InScopeBy", "Events",
                                                                         "HostTripwires")])
    for column in ("TaskHost", "InScopeBy", "HostTripwires"):
        if column in columns and column not in frame:
            frame[column] = pd.Series(dtype=object)
    frame["Events"] = pd.to_numeric(frame.get("Events", pd.Series(1, index=frame.index)),
                                    errors="coerce").fillna(1).astype("int64")
    return frame
