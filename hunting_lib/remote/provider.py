"""The connection to Sentinel, Defender XDR or ADX: a msticpy QueryProvider, made safe and complete.

The rarity and the correlation run in KQL on the remote engine (``remote.hunt`` asks for them);
only their results come back. The queries are msticpy query templates (``queries/msticpy/``) whose text the kit renders from
the published query (``hunting_lib.remote.kql``), with every value escaped.

Completeness comes first. Services cut results: the Defender advanced-hunting API returns at most
100,000 rows, Log Analytics 500,000 rows (and may return *partial* results on a timeout), ADX
500,000 rows by default. A cut result is never used: the time range is split in two and each half
queried again, until every piece is complete. Group counts from several pieces are summed
*before* the threshold is applied, never thresholded per piece; row results are concatenated.
When a piece cannot be split further, the hunt stops with a clear message.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import pandas as pd

from hunting_lib.engine.correlate import ACTIVITY_COLUMNS
from hunting_lib.engine.loader import apply_schema, ensure_columns
from hunting_lib.engine.rarity import GROUP_KEYS, TASK_START_COLUMNS
from hunting_lib.errors import BadInputError
from hunting_lib.params import DEFAULT_KNOWN_TASKS, HuntParams
from hunting_lib.remote.kql import (
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
        "device_network": lambda p, t, v: render_device_network_kql(p, str(v["device"]), t, ACTIVITY_COLUMNS),
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


def typed_rows(frame: pd.DataFrame, table: str, columns: list[str]) -> pd.DataFrame:
    """A remote result typed like the loader types files (Kusto returns the same types)."""
    frame = apply_schema(frame.reset_index(drop=True), table, Path(f"{table} (remote)"))
    return ensure_columns(frame, table, columns)


def concat_pieces(pieces: list[pd.DataFrame]) -> pd.DataFrame:
    pieces = [p for p in pieces if not p.empty]
    return pd.concat(pieces, ignore_index=True) if pieces else pd.DataFrame()
