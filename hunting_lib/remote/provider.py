"""The connection to Sentinel, Defender XDR or ADX: a msticpy QueryProvider, made safe and complete.

The rarity and the correlation run in KQL on the remote engine (``remote.hunt`` asks for them);
only their results come back. The queries are msticpy query templates (``queries/msticpy/``) whose text the kit renders from
the published query (``hunting_lib.remote.kql``), with every value escaped.

Completeness comes first. Services cut results: the Defender advanced-hunting API returns at most
100,000 rows, Log Analytics 500,000 rows (and may return *partial* results on a timeout), ADX
500,000 rows by default. A cut result is never used: the time range is split in two and each half
queried again, until every piece is complete. Group counts from several pieces are summed
*before* the threshold is applied, never thresholded per piece; row results are concatenated.
When a time split cannot shrink a cut result (an aggregate whose distinct groups fill the
limit even in half the window), the piece is split by a hash of the device instead
(``kql_literals.with_device_slice``); each device's rows land in exactly one piece, so counts add
up. When a piece cannot be split further, the hunt stops with a clear message.

Fleet scale means service limits. The Defender XDR advanced hunting API allows per tenant "up to
45 calls per minute, and up to 1,500 calls per hour", "a maximum of 100,000 rows", a single
request runs at most 200 seconds (3 minutes in the XDR API's text), and "429 response represents
reaching quota limit either by number of requests or by CPU" (Microsoft Learn, "Advanced hunting
API", run-advanced-query-api; "Microsoft Defender XDR Advanced hunting API": CPU quota per tenant,
"queries are blocked ... until after the next 15-minute cycle"). So every run keeps a query
budget, paces its calls under the per-minute limit, backs off on 429 as Retry-After says, and
stops with one line (``QueryBudgetExceeded``, ``ServiceQuotaExceeded``) rather than hammer.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import pandas as pd

from hunting_lib.engine.correlate import ACTIVITY_COLUMNS
from hunting_lib.engine.loader import apply_schema, ensure_columns
from hunting_lib.engine.progress import progress
from hunting_lib.engine.rarity import GROUP_KEYS, TASK_START_COLUMNS
from hunting_lib.errors import BadInputError
from hunting_lib.params import DEFAULT_KNOWN_TASKS, HuntParams
from hunting_lib.remote.kql import (
    dialect,
    render_activity_devices_kql,
    render_activity_rows_kql,
    render_device_network_kql,
    render_file_certificates_kql,
    render_file_profiles_kql,
    render_flagged_launches_kql,
    render_fleet_groups_kql,
    render_hunt_kql,
    render_indicator_contacts_kql,
    render_ip_devices_kql,
    render_rare_tasks_kql,
    render_rows_by_process_kql,
    render_scheduler_groups_kql,
    render_table_presence_kql,
    render_task_start_groups_kql,
    render_task_starts_kql,
)
from hunting_lib.remote.kql_literals import DeviceSlice, with_device_slice
from hunting_lib.remote.task_events import (
    render_task_cache_kql,
    render_task_logons_kql,
    render_task_registrations_kql,
)
from hunting_lib.schema import TABLES
from hunting_lib.triage.exclusions import DEFAULT_EXCLUSIONS, load_exclusions
from hunting_lib.triage.known_tasks import load_known_tasks

QUERY_DIR = Path(__file__).resolve().parents[1] / "queries" / "msticpy"
FAMILY = "RareScheduledTasks"

#: Rows at or above which a result counts as cut by the service.
ROW_LIMITS: dict[str, int] = {
    "MDE": 100_000, "M365D": 100_000, "M365DGraph": 100_000,
    "MSSentinel": 500_000, "MSSentinel_New": 500_000,
    "Kusto": 500_000, "Kusto_New": 500_000,
}
#: The smallest time piece the hunt will split down to before it gives up.
MIN_PIECE = pd.Timedelta(minutes=1)
#: Retries for throttling and transient failures, and the longest wait between them: a longer
#: Retry-After means the tenant's quota is spent (the CPU quota resets every 15 minutes), and the
#: run stops instead of waiting.
RETRIES = 3
MAX_WAIT_SECONDS = 60.0
#: Calls a run may make by default: a weekly hunt on a 50k-device fleet takes a few dozen
#: (BENCHMARKS.md), far below the tenant's 1,500 an hour that other analysts and tools share.
DEFAULT_QUERY_BUDGET = 300
#: The Defender API's per-tenant call limits (see the module's docstring).
CALLS_PER_MINUTE = 45
CALLS_PER_HOUR = 1500
#: Finest hash split: 256 pieces of the fleet, each still cut, stop the hunt.
MAX_HASH_PARTS = 256
#: Queries whose rows are groups (aggregates): halving their window barely shrinks them.
AGGREGATE_QUERIES = frozenset({"task_start_groups", "fleet_groups", "task_activity_devices", "ip_devices"})
#: Queries with no time window to split: a cut result of theirs is final.
UNWINDOWED_QUERIES = frozenset({"table_presence", "file_profiles", "file_certificates"})
#: One row per table, whatever the data: no service limit can cut it.
BOUNDED_QUERIES = frozenset({"table_presence"})


class RemoteQueryError(RuntimeError):
    """A remote query failed for good, or its result could not be made complete."""


class QueryBudgetExceeded(RemoteQueryError):
    """The run used its query budget; nothing more was sent."""


class ServiceQuotaExceeded(RemoteQueryError):
    """The service refused more queries (429 past the retries, or a quota reset too far away)."""


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
        "task_activity_rows": lambda p, t, v: render_activity_rows_kql(p, v["groups"], ACTIVITY_COLUMNS, t,
                                                                       v.get("devices") or None,
                                                                       v.get("tables") or TABLES),
        "task_activity_devices": lambda p, t, v: render_activity_devices_kql(p, v["groups"], t,
                                                                             v.get("tables") or TABLES),
        "table_presence": lambda p, t, v: render_table_presence_kql(p, t),
        "process_events": lambda p, t, v: render_rows_by_process_kql(
            p, v["processes"], ACTIVITY_COLUMNS, v.get("tables") or TABLES, t),
        "device_network": lambda p, t, v: render_device_network_kql(p, str(v["device"]), t, ACTIVITY_COLUMNS),
        "flagged_launches": lambda p, t, v: render_flagged_launches_kql(p, TASK_START_COLUMNS, t),
        "fleet_groups": lambda p, t, v: render_fleet_groups_kql(p, t),
        "ip_devices": lambda p, t, v: render_ip_devices_kql(p, v["ips"], t),
        "indicator_contacts": lambda p, t, v: render_indicator_contacts_kql(p, v["ips"], v["hosts"], t),
        "file_profiles": lambda p, t, v: render_file_profiles_kql(p, v["sha1s"], t),
        "file_certificates": lambda p, t, v: render_file_certificates_kql(p, v["sha1s"], t),
        "task_registrations": lambda p, t, v: render_task_registrations_kql(p, t),
        "scheduler_groups": lambda p, t, v: render_scheduler_groups_kql(p, t),
        "task_cache": lambda p, t, v: render_task_cache_kql(p, t),
        "task_logons": lambda p, t, v: render_task_logons_kql(
            p, v["sessions"]["DeviceName"].astype(str), v["sessions"]["LogonId"], t,
            v["sessions"].get("AccountName", pd.Series(dtype=object)).fillna("").astype(str)),
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
            text = _render(_params_from(values), target, values)
            return with_device_slice(text, target.time_column, tuple(map(tuple, values.get("device_slice") or ())))

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
    """A connected, secured provider, how to talk to it, and what this run has spent.

    ``query_budget`` caps the calls of one run (retries included); ``calls_per_minute`` and
    ``calls_per_hour`` are the tenant's limits the run paces itself under. ``clock`` and ``sleep``
    are injectable so tests run on a fake clock and never really wait.
    """

    provider: Any
    dialect: str = "defender"
    table_names: dict[str, str] | None = None
    row_limit: int | None = None
    sleep: Callable[[float], None] = time.sleep
    query_budget: int = DEFAULT_QUERY_BUDGET
    calls_per_minute: int = CALLS_PER_MINUTE
    calls_per_hour: int = CALLS_PER_HOUR
    clock: Callable[[], float] = time.monotonic
    #: Spent so far: calls sent, rows received, and when each call went out (for the pacing).
    queries_used: int = field(default=0, init=False)
    rows_fetched: int = field(default=0, init=False)
    call_times: deque = field(default_factory=deque, init=False, repr=False)
    #: Tables the workspace does not have (``remote.hunt.check_tables``).
    missing_tables: list[str] = field(default_factory=list, init=False)
    #: The finest hash split an aggregate needed so far: the next cut aggregate starts there.
    hash_parts: int = field(default=1, init=False)

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
            return max(float(headers.get("Retry-After", 5)), 0.0)
        except (TypeError, ValueError):
            return 5.0
    if isinstance(error, TimeoutError) or "timed out" in text or "timeout" in text or status in (502, 503, 504):
        return 2.0
    return None


def _is_partial(error: Exception) -> bool:
    return "partial" in str(error).lower()


def _is_quota(error: Exception) -> bool:
    """Throttling (429) or a spent quota, as opposed to a transient failure."""
    response = getattr(error, "response", None)
    status = getattr(error, "status_code", None) or getattr(response, "status_code", None)
    text = str(error).lower()
    return status == 429 or "429" in text or "too many requests" in text or "quota" in text or "throttl" in text


#: Columns each query's result must have; a missing one means the remote schema changed.
EXPECTED_COLUMNS: dict[str, list[str]] = {
    "task_start_groups": GROUP_KEYS + ["Count", "Devices", "Accounts", "FirstSeen", "LastSeen"],
    "task_starts": GROUP_KEYS + ["Timestamp", "DeviceName", "ProcessId"],
    "flagged_launches": GROUP_KEYS + ["Timestamp", "DeviceName", "ProcessId", "HostTripwires"],
    "fleet_groups": GROUP_KEYS + ["Devices", "Aggregated"],
    "ip_devices": ["RemoteIP", "Devices"],
    "indicator_contacts": ["DeviceName", "InitiatingProcessFileName", "RemoteIP", "RemoteUrl"],
    "task_activity_rows": ["SourceTable", "Timestamp", "DeviceName", "InitiatingProcessFileName",
                           "InitiatingProcessId", "InitiatingProcessCommandLine"],
    "process_events": ["SourceTable", "Timestamp", "DeviceName", "InitiatingProcessId"],
}


def _pace(source: RemoteSource, name: str) -> None:
    """Spend one call of the budget, waiting first if the per-minute limit would be passed.

    The per-hour limit is not waited out (that can take most of an hour): the run stops.
    """
    if source.queries_used >= source.query_budget:
        raise QueryBudgetExceeded(
            f"the run's remote query budget of {source.query_budget} queries is spent ({name} would be one more); "
            "raise it (query_budget) or narrow the hunt (a shorter window, exclusions)")
    calls, now = source.call_times, source.clock()
    while calls and now - calls[0] >= 3600:
        calls.popleft()
    if len(calls) >= source.calls_per_hour:
        raise ServiceQuotaExceeded(
            f"{source.calls_per_hour} calls in the last hour, the tenant's limit; the hunt stopped after "
            f"{source.queries_used} queries. Run it again in {int(calls[0] + 3600 - now) + 1} s")
    in_last_minute = [t for t in calls if now - t < 60]
    if len(in_last_minute) >= source.calls_per_minute:
        source.sleep(in_last_minute[-source.calls_per_minute] + 60 - now)
        now = max(source.clock(), in_last_minute[-source.calls_per_minute] + 60)
    calls.append(now)
    source.queries_used += 1


def _run_once(source: RemoteSource, name: str, start: pd.Timestamp, end: pd.Timestamp, **values) -> pd.DataFrame:
    """One query for one time piece; raises IncompleteResult when the service cut the result."""
    query = getattr(getattr(source.provider, FAMILY), name)
    for attempt in range(RETRIES + 1):
        _pace(source, name)
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
            detail = " ".join(str(error).split())[:300]
            if wait is not None and _is_quota(error) and (wait > MAX_WAIT_SECONDS or attempt == RETRIES):
                raise ServiceQuotaExceeded(
                    f"the service refused {name} ({detail}); the tenant's quota resets in about {int(wait)} s; "
                    f"the hunt stopped after {source.queries_used} queries") from None
            if wait is None or attempt == RETRIES:
                raise RemoteQueryError(f"{name} failed: {type(error).__name__}: {detail}") from None
            source.sleep(wait)
    if not isinstance(result, pd.DataFrame):
        raise RemoteQueryError(f"{name} returned no table ({type(result).__name__}); the query failed")
    missing = [c for c in EXPECTED_COLUMNS.get(name, []) if c not in result.columns]
    if missing and not result.empty:
        raise RemoteQueryError(
            f"{name} returned no column {missing[0]}: the remote table's schema is not the one the "
            "hunt expects (renamed table or column? see dialect and table_names)")
    source.rows_fetched += len(result)
    if len(result) >= source.limit and name not in BOUNDED_QUERIES:
        raise IncompleteResult(f"{name}: {len(result)} rows, at the service's limit of {source.limit}")
    return result


def run_complete(
    source: RemoteSource, name: str, start: pd.Timestamp, end: pd.Timestamp, device_slice: DeviceSlice = (),
    halved: bool = False, **values
) -> list[pd.DataFrame]:
    """The query's results over [start, end], as complete pieces.

    A cut result is split in time while the window is at least ``MIN_PIECE``; an aggregate whose
    half window is still cut (its rows are groups, which a shorter window hardly thins), or a
    piece too short to halve, is split by a hash of the device instead (``_hash_split``).
    """
    try:
        return [_run_once(source, name, start, end, device_slice=[list(p) for p in device_slice], **values)]
    except IncompleteResult as cut:
        if name in UNWINDOWED_QUERIES:
            raise RemoteQueryError(f"{cut}; this query has no time window to split, so it is too much for one query") \
                from None
        if name in AGGREGATE_QUERIES and not device_slice and source.hash_parts > 1:
            # an earlier aggregate over the same launches needed this split: skip the rounds
            return _hash_split(source, name, start, end, device_slice, str(cut), source.hash_parts, **values)
        if end - start >= MIN_PIECE and not (halved and name in AGGREGATE_QUERIES):
            middle = start + (end - start) / 2
            middle = middle.floor("100ns")
            return (run_complete(source, name, start, middle, device_slice, True, **values)
                    + run_complete(source, name, middle + pd.Timedelta(100, "ns"), end, device_slice, True, **values))
        return _hash_split(source, name, start, end, device_slice, str(cut), **values)


def _hash_split(source: RemoteSource, name: str, start: pd.Timestamp, end: pd.Timestamp, device_slice: DeviceSlice,
                cut: str, factor: int = 2, **values) -> list[pd.DataFrame]:
    """The piece's devices split by hash into ``factor`` pieces: (N, k) becomes (fN, k + jN) for
    j < f, which together are exactly (N, k) (``kql_literals.device_slice_filter``)."""
    parts, remainder = device_slice[-1] if device_slice else (1, 0)
    if parts * factor > MAX_HASH_PARTS:
        raise RemoteQueryError(
            f"{cut}; even {start.isoformat()} .. {end.isoformat()} on 1/{parts} of the devices is too much for "
            "one query. Narrow the hunt (fewer devices, or exclusions), or raise the service's limit")
    if name in AGGREGATE_QUERIES:
        source.hash_parts = max(source.hash_parts, parts * factor)
    halves = [device_slice + ((parts * factor, remainder + j * parts),) for j in range(factor)]
    pieces: list[pd.DataFrame] = []
    for half in progress(halves, f"{name}: devices in {parts * factor} pieces"):
        try:
            pieces += run_complete(source, name, start, end, half, True, **values)
        except ValueError as error:  # a query with no windowed read (with_device_slice)
            raise RemoteQueryError(f"{cut}; {error}") from None
    return pieces


def typed_rows(frame: pd.DataFrame, table: str, columns: list[str]) -> pd.DataFrame:
    """A remote result typed like the loader types files (Kusto returns the same types)."""
    frame = apply_schema(frame.reset_index(drop=True), table, Path(f"{table} (remote)"))
    return ensure_columns(frame, table, columns)


def concat_pieces(pieces: list[pd.DataFrame]) -> pd.DataFrame:
    pieces = [p for p in pieces if not p.empty]
    return pd.concat(pieces, ignore_index=True) if pieces else pd.DataFrame()
