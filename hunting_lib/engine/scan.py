"""Load only the rows the hunt can use, straight from parquet files, with polars' lazy scan.

A month of a fleet's telemetry is tens of millions of events; the hunt needs a few hundred of
them: the Task Scheduler's starts of the groups that may be rare, and the events whose
initiating process may be one of those tasks. The general loader reads every row into pandas
before the pipeline filters them, which costs seconds and gigabytes at that size. For a folder of
parquet files, this module reads in two passes with polars, which pushes each filter into the
scan and decodes a row's other columns only when the row passes (pyarrow's dataset scanner
decodes every projected column before it filters, which made it several times slower here):

1. The process table's Task Scheduler starts (the seed's parent filter and the time window),
   counted per (FileName, ProcessCommandLine, FolderPath) group: the groups that may be rare.
2. Every table: the starts of those groups, and the events whose initiating process has a
   lower-cased name in the set of the groups' names, and a command line and a folder path of
   the byte lengths of theirs.

Each pass keeps a superset of what the seed keeps: whole groups (so a kept group's count is
complete), and lower-cased comparisons (or lengths) only for ASCII strings, where polars' lower
case is Python's and keeps the length; a string with any other character is kept for pandas to
judge. The rows read then
get the general loader's typing (``apply_schema``) and go through the usual pipeline, which
applies the seed's exact semantics. The answer is therefore the full load's answer; the tests
compare the two.

A table may be one parquet file or a folder of parquet parts (``files.table_parts``: parts,
hive partitions by day), scanned as one table without merging them first. The scan steps aside,
and the general loader reads the folder, whenever it cannot promise that: a file that is not
parquet, parts that differ in columns, a column whose type the loader would coerce (it counts and reports
those, so its report must cover every row), a missing required column, a file polars cannot
read, or ``--match process``, which walks process trees through rows no key filter names.

The scan needs no pandas: ``early_scan`` runs it in a child process while the ``hunt`` command
imports pandas, and ``fast_load.load_for_hunt`` turns its rows into the loader's tables.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hunting_lib.engine.addresses import ip_kind
from hunting_lib.engine.columns import hunt_columns
from hunting_lib.engine.files import find_table_files, normalise_column_name, parquet_parts
from hunting_lib.engine.query import seed_literals
from hunting_lib.engine.settings import default_paths, default_scope
from hunting_lib.schema import PROCESS_TABLE, TABLES, required_columns

if TYPE_CHECKING:
    from hunting_lib.params import HuntParams

#: The seed's step-4 group and the three initiating-process strings its step 5 matches.
_GROUP = ["FileName", "ProcessCommandLine", "FolderPath"]
_INITIATING = ["InitiatingProcessFileName", "InitiatingProcessCommandLine", "InitiatingProcessFolderPath"]
_ROW = "__row"


class NotApplicable(Exception):
    """The scan cannot promise the general loader's result for this folder."""


@dataclass(frozen=True)
class ScanRequest:
    """What the scan needs from the hunt's parameters (plain values: no pandas)."""

    threshold: int
    max_devices: int | None
    parent_command_lines: tuple[str, ...]
    start_ns: int | None = None  # the window, nanoseconds since the epoch (UTC), inclusive
    end_ns: int | None = None
    scope: str = "extended"

    @classmethod
    def from_params(cls, params: HuntParams) -> ScanRequest:
        return cls(params.threshold, params.max_devices, tuple(params.parent_command_lines),
                   None if params.start is None else params.start.value,
                   None if params.end is None else params.end.value, params.scope)


@dataclass
class ScanResult:
    """The rows each table's file contributes, with the file's row numbers (``__row``).

    polars frames where the scan ran, Arrow tables once handed over (``as_arrow``).
    """

    files: dict[str, Path]
    rows: dict[str, Any]
    #: The fleet's baseline (``fleet.FleetContext``) as plain values: devices, task_devices,
    #: ip_devices, aggregated_reports.
    fleet: dict[str, Any] = field(default_factory=dict)

    def as_arrow(self) -> ScanResult:
        return ScanResult(self.files, {t: r if _is_arrow(r) else r.to_arrow() for t, r in self.rows.items()},
                          self.fleet)


def _is_arrow(rows: Any) -> bool:
    return type(rows).__module__.startswith("pyarrow")


def _lazy_table(path: Path, table: str, pl: Any) -> tuple[Any, list[str]]:
    """The file (or the folder's parts, as one table) as a lazy frame with schema column names
    (and its row numbers), and its columns."""
    parts = parquet_parts(path) or [path]
    try:
        # The row index is part of the scan, so the filters still reach the reader. Hive keys in
        # folder names (d=2026-11-01) are not Defender columns: they are not read. polars checks
        # each part's columns against the first's as it reads (``scan_parquet_folder``).
        frame = pl.scan_parquet(parts, row_index_name=_ROW, hive_partitioning=False)
        schema = frame.collect_schema()
    except Exception as exc:  # unreadable: the general loader words the error
        raise NotApplicable(f"{path.name}: {exc}") from None
    renamed = {raw: normalise_column_name(raw, table) for raw in schema.names() if raw != _ROW}
    if len(set(renamed.values())) != len(renamed):
        raise NotApplicable(f"{path.name}: duplicate columns")
    if any(c not in renamed.values() for c in required_columns(table)):
        raise NotApplicable(f"{path.name}: a required column is missing")
    times = [schema[raw] for raw, new in renamed.items() if new == "Timestamp"]
    if times and not isinstance(times[0], (pl.Datetime, pl.Null)):
        # Times stored as text or numbers: the loader parses them (and refuses a column of which
        # not one value reads); the scan's window and fleet filters work on times only.
        raise NotApplicable(f"{path.name}: Timestamp is {times[0]}, not a time")
    frame = frame.rename({raw: new for raw, new in renamed.items() if raw != new})
    # Only the columns the hunt reads: the rows that pass are decoded column by column, and a
    # Defender table has three times as many.
    wanted = set(hunt_columns()[table])
    present = [c for c in renamed.values() if c in wanted]
    return frame.select([pl.col(_ROW)] + [pl.col(c) for c in present]), present


def _text(present: list[str], column: str, pl: Any) -> Any:
    """A string column as the loader sees it: missing values are "", an absent column is all ""."""
    if column not in present:
        return pl.lit("")
    return pl.col(column).cast(pl.String).fill_null("")


def _where(present: list[str], column: str, test: Any, empty_passes: bool, pl: Any) -> Any:
    """``test`` on a string column, where a missing value (or an absent column) is "" as the
    loader makes it, and passes when "" would. Filling the nulls in every row instead costs a
    copy of the column."""
    if column not in present:
        return pl.lit(empty_passes)
    values = pl.col(column).cast(pl.String)
    return test(values) | values.is_null() if empty_passes else test(values)


def _non_ascii(values: Any) -> Any:
    return values.str.len_bytes() != values.str.len_chars()


def _lower_in(present: list[str], column: str, lowered: set[str], pl: Any) -> Any:
    """A superset of ``tolower(column) in (lowered)``: exact for ASCII, keeps everything else."""
    wanted = sorted(lowered)
    return _where(present, column, lambda v: v.str.to_lowercase().is_in(wanted) | _non_ascii(v), "" in lowered, pl)


def _length_in(present: list[str], column: str, lowered: set[str], pl: Any) -> Any:
    """A looser superset of ``tolower(column) in (lowered)``: an ASCII string keeps its length
    when lowered, so only its length is compared. Lowering every command line of every event
    costs a quarter of the scan; the exact test runs in pandas on the few rows that pass."""
    lengths = sorted({len(v.encode("utf-8")) for v in lowered})
    return _where(present, column, lambda v: v.str.len_bytes().is_in(lengths) | _non_ascii(v), "" in lowered, pl)


def _equals_any(present: list[str], column: str, literals: list[str], pl: Any) -> Any:
    """``column in (literals)``, exact and case-sensitive."""
    return _where(present, column, lambda v: v.is_in(literals), "" in literals, pl)


def _in_window(present: list[str], request: ScanRequest, pl: Any) -> Any:
    """``Timestamp between (start .. end)`` on the nanosecond clock, as ``rarity.window_mask``."""
    condition = pl.lit(True)
    if request.start_ns is None and request.end_ns is None:
        return condition
    if "Timestamp" not in present:
        return pl.lit(False)
    nanoseconds = pl.col("Timestamp").dt.epoch("ns")  # a naive time counts as UTC, as in the loader
    if request.start_ns is not None:
        condition &= nanoseconds >= request.start_ns
    if request.end_ns is not None:
        condition &= nanoseconds <= request.end_ns
    return condition


def _lower(present: list[str], column: str, pl: Any) -> Any:
    return _text(present, column, pl).str.to_lowercase()


def _starts_with_any(present: list[str], column: str, prefixes: tuple[str, ...], pl: Any) -> Any:
    """A superset of "the lower-cased column starts with one of ``prefixes``" (non-ASCII kept)."""
    values = _text(present, column, pl)
    test = pl.lit(False)
    for prefix in prefixes:
        test |= values.str.to_lowercase().str.starts_with(prefix)
    return test | _non_ascii(values)


def _published_keep(present: list[str], pl: Any) -> Any:
    """Steps 2-3 of the seed on the group keys, so whole groups stay or go (non-ASCII strings stay)."""
    seed = seed_literals()
    prefix = seed.system_folder_prefix.lower()
    not_scanner = _where(present, "FileName", lambda v: v != seed.excluded_file_name,
                         seed.excluded_file_name != "", pl)
    outside_system32 = _where(present, "FolderPath",
                              lambda v: ~v.str.to_lowercase().str.starts_with(prefix) | _non_ascii(v), prefix != "", pl)
    is_shell = _lower_in(present, "FileName", {shell.lower() for shell in seed.shells}, pl)
    return not_scanner & (outside_system32 | is_shell)


def _extended_keep(present: list[str], pl: Any) -> Any:
    """``scope.scoped_task_starts``'s in-scope tests, exact for ASCII strings (others stay), so
    the fleet baseline counts exactly the launches in scope."""
    config, paths = default_scope(), default_paths()
    name = _lower(present, "FileName", pl)
    headless = (name == "conhost.exe") & _lower(present, "ProcessCommandLine", pl).str.contains(
        config.headless_conhost, literal=True)
    folder = _text(present, "FolderPath", pl)
    at_home = pl.lit(False)
    for home in config.scanner_homes:
        at_home |= folder.str.to_lowercase().str.starts_with(home)
    scanner_away = (name == "mpcmdrun.exe") & (~at_home | _non_ascii(folder))
    return (_published_keep(present, pl)
            | _lower_in(present, "FileName", set(config.system32_lolbins) | set(config.system32_recon), pl)
            | headless | scanner_away | _starts_with_any(present, "FolderPath", paths.user_writable_system32, pl))


def _task_host_launches(processes: Any, present: list[str], request: ScanRequest, pl: Any) -> tuple[Any, dict, Any]:
    """Passes 0 and 1 of the extended scope in one: every launch whose parent may be a task host
    (a superset read with the filters in the reader), held in memory, then kept when its parent
    is one (``ScopeConfig.host_of``, once per distinct parent), with the hosts found: each one's
    exact (name, command line) pairs and devices (the grouped host's guard), and the filter that
    read them (for later passes: a filter the reader applies before decoding other columns)."""
    config, seed = default_scope(), seed_literals()
    parent_line = _lower(present, "InitiatingProcessCommandLine", pl)
    maybe_host = (_lower_in(present, "InitiatingProcessFileName", set(config.host_names), pl)
                  & (parent_line.str.contains("netsvcs", literal=True)
                     | _lower_in(present, "InitiatingProcessFileName", {"taskeng.exe"}, pl)
                     | _equals_any(present, "InitiatingProcessCommandLine", list(request.parent_command_lines), pl)
                     | _non_ascii(_text(present, "InitiatingProcessCommandLine", pl))))
    columns = _GROUP + ["DeviceName", "ActionType", "InitiatingProcessFileName", "InitiatingProcessCommandLine"]
    maybe_host &= _in_window(present, request, pl)
    launches = processes.filter(maybe_host).select(
        [pl.col(_ROW)] + [_text(present, c, pl).alias(c) for c in columns]
        + [(pl.col("ProcessId") if "ProcessId" in present else pl.lit(None)).alias("ProcessId"),
           _launch_time(present, pl)]).collect()
    parents = launches.select("InitiatingProcessFileName", "InitiatingProcessCommandLine").unique()
    hosts: dict[str, Any] = {"pairs": {}, "devices": {}}
    for name, line in parents.iter_rows():
        host = config.host_of(name, line)
        if host is None and name == seed.parent_file_name and line in request.parent_command_lines:
            host = "schedule_service"  # the parent command lines the hunt was asked for
        if host is not None:
            hosts["pairs"].setdefault(host, set()).add((name, line))
    hosts_of = {f"{n}\x00{c}": h for h, pairs in hosts["pairs"].items() for n, c in pairs}
    parent = pl.col("InitiatingProcessFileName") + "\x00" + pl.col("InitiatingProcessCommandLine")
    launches = launches.with_columns(parent.replace_strict(hosts_of, default=None).alias("TaskHost"))
    # Each launch's host is known now: its parent's strings are not held any longer.
    launches = launches.filter(pl.col("TaskHost").is_not_null()).drop(
        "InitiatingProcessFileName", "InitiatingProcessCommandLine")
    for host in hosts["pairs"]:
        hosts["devices"][host] = set(launches.filter(pl.col("TaskHost") == host)["DeviceName"].to_list())
    return launches, hosts, maybe_host


def _guarded(launches: Any, hosts: dict[str, Any], pl: Any) -> Any:
    """The grouped host's guards (``scope._guard_grouped_hosts``) on launches held in memory."""
    drop = pl.lit(False)
    for host in default_scope().hosts:
        mine = pl.col("TaskHost") == host.id
        if host.not_children:
            drop |= mine & pl.col("FileName").str.to_lowercase().is_in(sorted(host.not_children))
        if host.not_on_devices_with:
            drop |= mine & pl.col("DeviceName").is_in(sorted(hosts["devices"].get(host.not_on_devices_with, set())))
    return launches.filter(~drop)


def _normalised(expression: Any) -> Any:
    """``paths.normalise_path`` in polars: user profile, GUIDs and version numbers made generic."""
    return (expression.str.to_lowercase()
            .str.replace_all(r"([a-z]:\\users\\)[^\\]+", "${1}*")
            .str.replace_all(r"\{?[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\}?", "{guid}")
            .str.replace_all(r"\d+(?:[._-]\d+)+", "#"))


_AGGREGATED = "ProcessCreatedAggregatedReport"


def _launch_time(present: list[str], pl: Any) -> Any:
    """A launch's time as nanoseconds since the epoch (``_ns``), for the group counts history keeps."""
    if "Timestamp" not in present:
        return pl.lit(None, dtype=pl.Int64).alias("_ns")
    return pl.col("Timestamp").dt.epoch("ns").alias("_ns")


def _history_counts(in_scope: Any, request: ScanRequest, pl: Any) -> dict[str, list]:
    """Every group in scope with its launches, devices, first and last launch (as
    ``fleet.group_counts``; a launch at exactly the window's end is left for the next window).
    Aggregated reports count once each here: the launches held carry no event counts."""
    if request.end_ns is not None:
        in_scope = in_scope.filter(pl.col("_ns").is_null() | (pl.col("_ns") < request.end_ns))
    table = in_scope.group_by(_GROUP).agg(pl.len().alias("Count"), pl.col("DeviceName").n_unique().alias("DeviceCount"),
                                          pl.col("_ns").min().alias("FirstSeen"),
                                          pl.col("_ns").max().alias("LastSeen")).collect()
    return {column: table[column].to_list() for column in table.columns}


def _baseline(in_scope: Any, pl: Any) -> tuple[int, dict[str, int], dict[str, int]]:
    """The fleet's baseline (``fleet.FleetContext``) from the launches in memory (``in_scope``: a
    lazy filter of them): devices, and devices per normalised group key and per normalised
    program path, over those in scope."""
    per_group = in_scope.group_by(_GROUP).agg(pl.col("DeviceName").unique()).collect()
    keyed = per_group.with_columns(
        (_normalised(pl.col("FileName")) + "|" + _normalised(pl.col("ProcessCommandLine")) + "|"
         + _normalised(pl.col("FolderPath"))).alias("key"), _normalised(pl.col("FolderPath")).alias("program"))
    counts = {}
    for column in ("key", "program"):
        table = keyed.explode("DeviceName").group_by(column).agg(pl.col("DeviceName").n_unique().alias("n"))
        counts[column] = dict(zip(table[column].to_list(), table["n"].to_list()))
    devices = in_scope.select(pl.col("DeviceName").n_unique()).collect().item()
    return int(devices), counts["key"], counts["program"]


def scan_parquet_folder(data_dir: Path, request: ScanRequest) -> ScanResult:
    """The passes over a folder of parquet files; raises ``NotApplicable`` for anything else."""
    files = find_table_files(data_dir)
    parts = {table: parquet_parts(path) for table, path in files.items()}
    if PROCESS_TABLE not in files or any(p is None for p in parts.values()):
        raise NotApplicable("not a folder of parquet files")
    import polars as pl  # after the cheap checks: a csv folder never pays for it

    try:
        return _scan(files, request, pl)
    except (pl.exceptions.SchemaError, pl.exceptions.ColumnNotFoundError) as exc:
        # Parts of one table that differ in columns or types (an export whose schema changed):
        # the general loader fills what a part lacks and names the part whose values it coerces.
        # Reading every part's footer first instead costs seconds at a few thousand parts.
        if all(len(p) == 1 for p in parts.values()):
            raise  # one file per table: a bug of the scan, reported as such
        raise NotApplicable(f"the parts of a table differ in columns or types: {' '.join(str(exc).split())[:200]}")


def _scan(files: dict[str, Path], request: ScanRequest, pl: Any) -> ScanResult:
    """The passes themselves (``scan_parquet_folder``)."""
    lazy = {t: _lazy_table(files[t], t, pl) for t in TABLES if t in files}
    processes, present = lazy[PROCESS_TABLE]
    extended = request.scope == "extended"

    # Pass 0 (extended): which parents are task hosts. Pass 1: every launch by them (few rows:
    # their parents' exact strings are pushed into the reader), held in memory; there the scope
    # decides which are in scope, which groups may be rare, and the fleet's baseline.
    if extended:
        launches, hosts, launched = _task_host_launches(processes, present, request, pl)
    else:
        seed = seed_literals()
        launched = (_equals_any(present, "InitiatingProcessFileName", [seed.parent_file_name], pl)
                    & _equals_any(present, "InitiatingProcessCommandLine", list(request.parent_command_lines), pl)
                    & _in_window(present, request, pl))
        # The parent's strings are the filter's own: not held (a million launches at 100M events).
        columns = _GROUP + ["DeviceName", "ActionType"]
        launches = processes.filter(launched).select(
            [pl.col(_ROW)] + [_text(present, c, pl).alias(c) for c in columns]
            + [(pl.col("ProcessId") if "ProcessId" in present else pl.lit(None)).alias("ProcessId"),
               _launch_time(present, pl)]).collect()
    held = list(launches.columns)
    if extended:
        launches = _guarded(launches, hosts, pl)
        in_scope_test = _extended_keep(held, pl)
    else:
        in_scope_test = _published_keep(held, pl)
    launches = launches.with_columns(in_scope_test.alias("_in_scope"))
    # A lazy filter, not a copy of the launches in scope (nearly all of them, published).
    in_scope = launches.lazy().filter(pl.col("_in_scope"))
    groups = in_scope.group_by(_GROUP).agg(pl.len().alias("Count"),
                                           pl.col("DeviceName").n_unique().alias("DeviceCount")).collect()
    history_counts = _history_counts(in_scope, request, pl)
    launched_groups = launches.select(_GROUP).unique()
    launched_groups = {c: launched_groups[c].to_list() for c in _GROUP}
    maybe_rare = pl.col("Count") < request.threshold
    if request.max_devices is not None:
        maybe_rare |= pl.col("DeviceCount") <= request.max_devices
    candidates = groups.filter(maybe_rare)
    devices, per_key, per_program = _baseline(in_scope, pl)
    system32_hosts = launches.filter(~pl.col("_in_scope")) if extended else launches.clear()
    host_names = sorted(set(system32_hosts["FileName"].str.to_lowercase().to_list()))
    raw = {c: candidates[c].to_list() for c in _GROUP}
    lowered = {c: {v.lower() for v in raw[c]} for c in _GROUP}
    start_rows = in_scope.join(candidates.lazy().select(_GROUP), on=_GROUP, how="semi").select(_ROW).collect()
    start_rows = start_rows[_ROW].to_list()
    aggregated_reports = int(launches["ActionType"].eq(_AGGREGATED).sum())
    del launches, in_scope  # the later passes run without the launches in memory

    # Pass 2: the starts of those groups, the events their processes may have caused, and the
    # events that may fire a host tripwire.
    # Every column the hunt reads of a kept row is read: few rows pass.
    plans, owners = [], []
    for table, (frame, present_t) in lazy.items():
        activity = (
            _in_window(present_t, request, pl)
            & _lower_in(present_t, "InitiatingProcessFileName", lowered["FileName"], pl)
            & _length_in(present_t, "InitiatingProcessCommandLine", lowered["ProcessCommandLine"], pl)
            & _length_in(present_t, "InitiatingProcessFolderPath", lowered["FolderPath"], pl)
        )
        plans.append(frame.filter(activity))
        owners.append(table)
        if table == PROCESS_TABLE:
            # A plan of its own, not an "or": polars decodes every row for an "or" of the two.
            # A superset the reader filters before decoding other columns (a filter on the row
            # index would make it decode every row); the exact rows are kept in memory below.
            group_start = launched
            for column in _GROUP:
                group_start &= _equals_any(present_t, column, raw[column], pl)
            plans.append(frame.filter(group_start))
            owners.append("_group_starts")
    host_rows = _host_tripwire_plans(lazy, host_names, request, pl) if host_names else {}
    for table, plan in host_rows.items():
        plans.append(plan)
        owners.append(table)
    found: dict[str, list] = {}
    for table, rows in zip(owners, pl.collect_all(plans)):
        if table == "_group_starts":
            table, rows = PROCESS_TABLE, rows.filter(pl.col(_ROW).is_in(start_rows))
        found.setdefault(table, []).append(rows)

    # Pass 3: the System32 launches whose processes those events name, and how many devices
    # contact each public address the candidate tasks' processes contacted.
    plans, owners = [], []
    flagged = [found[t][-1] for t in host_rows]  # each table's last plan
    flagged = [f for f in flagged if len(f) and {"DeviceName", "InitiatingProcessId"} <= set(f.columns)]
    if flagged:
        ids = pl.concat([f.select(pl.col("DeviceName").cast(pl.String),
                                  pl.col("InitiatingProcessId").cast(pl.Int64).alias("ProcessId")) for f in flagged])
        flagged_rows = system32_hosts.with_columns(pl.col("ProcessId").cast(pl.Int64)).join(
            ids.unique(), on=["DeviceName", "ProcessId"], how="semi")[_ROW].to_list()
        plans.append(processes.filter(launched & pl.col("ProcessId").is_in(sorted(set(ids["ProcessId"].drop_nulls())))))
        owners.append("_flagged_launches")
    ips = _public_ips(found)
    network = lazy.get("DeviceNetworkEvents")
    if ips and network is not None and "RemoteIP" in network[1]:
        frame, present_n = network
        plans.append(frame.filter(_in_window(present_n, request, pl) & pl.col("RemoteIP").cast(pl.String).is_in(ips))
                     .group_by(pl.col("RemoteIP").cast(pl.String)).agg(
                         _text(present_n, "DeviceName", pl).n_unique().alias("n")))
        owners.append("_ip_devices")
    ip_devices: dict[str, int] = {}
    for table, rows in zip(owners, pl.collect_all(plans) if plans else []):
        if table == "_ip_devices":
            ip_devices = dict(zip(rows["RemoteIP"].to_list(), rows["n"].to_list()))
        elif table == "_flagged_launches":
            found[PROCESS_TABLE].append(rows.filter(pl.col(_ROW).is_in(flagged_rows)))
        else:
            found.setdefault(table, []).append(rows)
    # A row can be both a group's start and activity: keep it once, in file order.
    rows = {t: pl.concat(parts, how="diagonal_relaxed").unique(_ROW).sort(_ROW) for t, parts in found.items()}
    fleet = {"devices": devices, "aggregated_reports": aggregated_reports,
             "task_devices": per_key, "ip_devices": ip_devices, "program_devices": per_program,
             "group_counts": history_counts, "scheduler_groups": launched_groups}
    return ScanResult(files, rows, fleet)


def _host_tripwire_plans(lazy: dict[str, Any], host_names: list[str], request: ScanRequest, pl: Any) -> dict[str, Any]:
    """Per table of a host tripwire, the rows that may fire one (``scope.host_tripwire_starts``
    tests them exactly): a System32 task host's name, and a user-writable path or a shell."""
    config, paths = default_scope(), default_paths()
    tests: dict[str, Any] = {}
    for tripwire in config.host_tripwires:
        if tripwire.table not in lazy:
            continue
        frame, present = lazy[tripwire.table]
        if tripwire.test == "user_writable_path":
            folder = _text(present, "FolderPath", pl)  # no lower-casing of every path: ASCII folds itself
            hit = folder.str.contains_any(list(paths.all_user_writable), ascii_case_insensitive=True) | _non_ascii(folder)
        else:
            hit = _lower_in(present, "FileName", set(config.shells), pl)
        tests[tripwire.table] = tests.get(tripwire.table, pl.lit(False)) | hit
    plans = {}
    for table, hit in tests.items():
        frame, present = lazy[table]
        plans[table] = frame.filter(_in_window(present, request, pl)
                                    & _lower_in(present, "InitiatingProcessFileName", set(host_names), pl) & hit)
    return plans


def _public_ips(found: dict[str, list]) -> list[str]:
    """The public addresses among the RemoteIP values of the rows read so far."""
    values = set()
    for parts in found.values():
        for part in parts:
            if "RemoteIP" in part.columns:
                values.update(v for v in part["RemoteIP"].cast(str).drop_nulls().unique().to_list() if v)
    return sorted(v for v in values if ip_kind(v) == "public")
