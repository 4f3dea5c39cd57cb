"""The remote path at fleet scale: service limits, device narrowing, hash splits, missing tables.

The "service" is tests/fake_drivers.py's KqlEngineDriver over a synthetic fleet with Defender's
limits (``DefenderLimits``): results cut at a row limit, 429 over the calls per minute and hour
(on a fake clock: nothing here really sleeps), a CPU quota, a table the workspace lacks. The
expected answers come from the local engine on the very same rows.
"""

from __future__ import annotations

import warnings

import pandas as pd
import pytest

from tests.conftest import oracle

oracle("duckdb_kql", "duckdb-kql needs Python 3.11+")

from hunting_lib.errors import DataWarning  # noqa: E402
from hunting_lib.hunt import run_hunt  # noqa: E402
from hunting_lib.params import HuntParams  # noqa: E402
from hunting_lib.remote.hunt import device_chunks  # noqa: E402
from hunting_lib.remote.provider import (  # noqa: E402
    QueryBudgetExceeded,
    RemoteSource,
    ServiceQuotaExceeded,
    run_complete,
)
from tests import kusto_parser  # noqa: E402
from tests.fake_drivers import (  # noqa: E402
    RARE_TASKS,
    SYNC_ELSEWHERE,
    DefenderLimits,
    FakeClock,
    provider,
    synthetic_fleet,
)

WINDOW = dict(start="2026-11-02T00:00:00Z", end="2026-11-09T00:00:00Z")
DEVICES = 300
#: Far below Defender's 100,000, so a small fleet meets it: 300 devices x 2 own tasks = 600
#: groups a week, and still about 300 in half a week (the per-device tasks run every day).
ROW_LIMIT = 400


def quietly(function, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return function(*args, **kwargs)


@pytest.fixture(scope="module")
def fleet() -> dict[str, pd.DataFrame]:
    return synthetic_fleet(DEVICES)


@pytest.fixture(scope="module")
def local(fleet):
    return quietly(run_hunt, {k: v.copy() for k, v in fleet.items()}, HuntParams(**WINDOW))


def defender(fleet, clock: FakeClock, **limits):
    limits = DefenderLimits(clock, **limits)
    return quietly(provider, None, environment="MDE", frames=fleet, defender=limits), limits


def outcome(result) -> tuple:
    """What a hunt found, in a form both engines must share exactly."""
    rare = sorted((r.FileName, r.ProcessCommandLine, r.FolderPath, int(r.Count), int(r.DeviceCount),
                   tuple(r.Devices), r.SuppressedBy or "", float(r.Score)) for r in result.rare_tasks.itertuples())
    activity = sorted((r.DeviceName, r.InitiatingProcessFileName, int(r.InitiatingProcessId),
                       frozenset(r.Actions), frozenset(r.FileNames), frozenset(r.RemoteIPs))
                      for r in result.activity.itertuples())
    return rare, activity, sorted(result.activity_rows["ReportId"].astype(int))


@pytest.fixture(scope="module")
def paced(fleet):
    """One weekly hunt over the fleet against a tenant that allows 5 calls a minute and 400 rows."""
    clock = FakeClock()
    fake, limits = defender(fleet, clock, calls_per_minute=5, row_limit=ROW_LIMIT)
    source = RemoteSource(fake, dialect="defender", row_limit=ROW_LIMIT, clock=clock, sleep=clock.sleep,
                          calls_per_minute=5)
    return quietly(run_hunt, source, HuntParams(**WINDOW)), source, fake._query_provider, limits, clock


def test_the_fleet_hunt_finds_exactly_what_the_local_engine_finds(paced, local):
    result = paced[0]
    assert outcome(result) == outcome(local)
    # the planted groups, counted over the whole week (not per piece): evil.exe twice on one
    # device, collect.exe once on each of two devices, sync.exe once
    counts = {r.FileName: (int(r.Count), int(r.DeviceCount)) for r in result.rare_tasks.itertuples()}
    assert counts == {"evil.exe": (2, 1), "collect.exe": (2, 2), "sync.exe": (1, 1)}


def test_cut_aggregates_are_split_by_device_hash_and_summed(paced):
    _, source, driver, _, _ = paced
    groups = [q for q in driver.queries if "summarize Count = sum(Events)" in q]
    sliced = [q for q in groups if "hash(DeviceName, " in q]
    assert sliced, "the group statistics were never split by device"
    # every device piece went out in pairs (N, k) -> (2N, k), (2N, k + N) of one window
    assert len(sliced) % 2 == 0
    assert source.hash_parts >= 2
    # the fleet baseline reused the split the statistics needed instead of halving time again
    fleet_queries = [q for q in driver.queries if "Aggregated = countif" in q]
    assert all("hash(DeviceName, " in q for q in fleet_queries[1:])


def test_activity_is_read_only_on_the_devices_that_have_it(paced, fleet):
    _, _, driver, _, _ = paced
    names = fleet["DeviceProcessEvents"]["DeviceName"].drop_duplicates().sort_values().tolist()
    rows = [q for q in driver.queries if "| project SourceTable" in q and "tolower(InitiatingProcessFileName)" in q]
    assert rows and all("\n| where DeviceName in (" in q for q in rows)
    asked = " ".join(rows)
    wanted = {names[device] for device, *_ in RARE_TASKS} | {names[SYNC_ELSEWHERE]}
    assert all(f'"{name}"' in asked for name in wanted)  # sync.exe's other device included
    assert sum(f'"{name}"' in asked for name in names) == len(wanted)  # and no other device


def test_the_run_paces_itself_under_the_tenant_limit_and_reports_its_queries(paced):
    result, source, driver, limits, clock = paced
    assert limits.refused == 0  # never a 429: the run waited instead
    assert len(driver.queries) > 5 and clock.now >= 60 * ((len(driver.queries) - 1) // 5)
    assert result.parameters["remote_queries"] == source.queries_used == len(driver.queries)
    assert result.parameters["remote_rows"] == driver.rows_returned
    assert result.parameters["remote_missing_tables"] == []


# --------------------------------------------------------------------------------------------
# Limits, on the cheapest query (which tables exist)


def presence(source: RemoteSource) -> pd.DataFrame:
    start, end = pd.Timestamp(WINDOW["start"]), pd.Timestamp(WINDOW["end"])
    return run_complete(source, "table_presence", start, end)[0]


def test_a_run_that_does_not_know_the_limit_backs_off_as_retry_after_says(fleet):
    clock = FakeClock()
    fake, limits = defender(fleet, clock, calls_per_minute=3)
    source = RemoteSource(fake, clock=clock, sleep=clock.sleep)  # paces at 45 a minute: too fast here
    for _ in range(7):
        assert len(presence(source)) == 7
    assert limits.refused == 2  # the 4th and 7th call, then it waited as told
    assert clock.slept == [60, 60]
    assert source.queries_used == 9  # refused calls count against the budget


def test_the_budget_stops_the_run_cleanly(fleet):
    clock = FakeClock()
    fake, _ = defender(fleet, clock)
    source = RemoteSource(fake, clock=clock, sleep=clock.sleep, query_budget=4)
    for _ in range(4):
        presence(source)
    with pytest.raises(QueryBudgetExceeded, match=r"budget of 4 queries is spent") as stopped:
        presence(source)
    assert "\n" not in str(stopped.value)
    assert len(fake._query_provider.queries) == 4


def test_a_spent_cpu_quota_stops_the_run_without_hammering(fleet):
    clock = FakeClock()
    fake, limits = defender(fleet, clock, cpu_quota_calls=3)
    source = RemoteSource(fake, clock=clock, sleep=clock.sleep)
    for _ in range(3):
        presence(source)
    with pytest.raises(ServiceQuotaExceeded, match=r"CPU quota exceeded.*resets in about 900 s"):
        presence(source)
    assert limits.refused == 1 and clock.slept == []  # one refusal, no retry, no 15-minute wait


def test_the_hourly_limit_is_not_waited_out(fleet):
    clock = FakeClock()
    fake, limits = defender(fleet, clock)
    source = RemoteSource(fake, clock=clock, sleep=clock.sleep, calls_per_hour=3)
    for _ in range(3):
        presence(source)
    with pytest.raises(ServiceQuotaExceeded, match=r"3 calls in the last hour"):
        presence(source)
    assert len(fake._query_provider.queries) == 3 and limits.refused == 0


# --------------------------------------------------------------------------------------------
# A workspace without a table


def test_a_missing_table_is_named_and_the_hunt_still_runs(fleet):
    """A workspace without two of the activity union's tables still hunts (a fuzzy union) and
    says which were missing. (The host tripwires' union over DeviceImageLoadEvents is fuzzy too,
    but duckdb-kql loses the schema of a ``let`` whose fuzzy union dropped a leg, so this oracle
    cannot run that case; Kusto's parser checks its text in the last test.)"""
    missing = ["DeviceRegistryEvents", "DeviceLogonEvents"]
    fake = quietly(provider, None, environment="MDE", frames=fleet, drop_table=missing[0])
    fake._query_provider._con.execute(f'DROP TABLE "{missing[1]}"')
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = run_hunt(RemoteSource(fake), HuntParams(**WINDOW))
    named = [str(w.message) for w in caught if issubclass(w.category, DataWarning) and "does not collect" in str(w.message)]
    assert named == ["the workspace does not collect DeviceRegistryEvents, DeviceLogonEvents: the hunt ran "
                     "without them"]
    assert result.parameters["remote_missing_tables"] == missing
    expected = quietly(run_hunt, {k: v.copy() for k, v in fleet.items()}, HuntParams(**WINDOW))
    assert outcome(result) == outcome(expected)  # neither table holds a row of this fleet


def test_a_workspace_without_process_events_is_a_clear_error(fleet):
    from hunting_lib.remote.provider import RemoteQueryError

    fake = quietly(provider, None, environment="MDE", frames=fleet, drop_table="DeviceProcessEvents")
    with pytest.raises(RemoteQueryError, match="no DeviceProcessEvents table"):
        run_hunt(RemoteSource(fake), HuntParams(**WINDOW))


# --------------------------------------------------------------------------------------------
# Pieces


def test_device_chunks_keep_names_and_rows_under_their_limits():
    counts = pd.DataFrame({"DeviceName": [f"d{i:03d}" for i in range(10)], "Rows": [5, 1, 1, 1, 30, 1, 1, 1, 1, 1]})
    chunks = device_chunks(counts, row_budget=6, per_query=4)
    assert sorted(name for chunk in chunks for name in chunk) == sorted(counts["DeviceName"])
    rows = dict(zip(counts["DeviceName"], counts["Rows"]))
    for chunk in chunks:
        assert len(chunk) <= 4
        # at most the budget, or the budget plus the one device that crossed it
        assert sum(rows[n] for n in chunk) - max(rows[n] for n in chunk) < 6
    # rows before each device: 0 5 6 7 8 38 39 40 41 42, so by rows (// 6): 0 0 1 1 1 6 6 6 6 7;
    # by names (// 4): 0 0 0 0 1 1 1 1 2 2; a chunk is one pair of both
    assert chunks == [["d000", "d001"], ["d002", "d003"], ["d004"], ["d005", "d006", "d007"], ["d008"], ["d009"]]


def test_the_new_queries_pass_kustos_parser():
    """The fuzzy unions, the device-narrowed activity queries and a hash-split piece, rendered
    with hostile device names and group values, parse and resolve in Kusto."""
    kusto_parser.require_kusto()
    from hunting_lib.remote.kql import (
        render_activity_devices_kql,
        render_activity_rows_kql,
        render_fleet_groups_kql,
        render_table_presence_kql,
        render_task_start_groups_kql,
    )
    from hunting_lib.remote.kql_literals import with_device_slice

    params = HuntParams(**WINDOW)
    hostile = ['pc"01\\', "two\nlines", 'x" | take 1 //']
    groups = pd.DataFrame({"FileName": ["a.exe", *hostile], "ProcessCommandLine": hostile + ["b"],
                           "FolderPath": ["C:\\x\\", *hostile]})
    queries = []
    for target in ("defender", "sentinel", "adx"):
        time_column = "TimeGenerated" if target == "sentinel" else "Timestamp"
        queries += [
            render_table_presence_kql(params, target),
            render_activity_devices_kql(params, groups, target),
            render_activity_rows_kql(params, groups, ["Timestamp", "DeviceName", "ActionType"], target, hostile),
            with_device_slice(render_task_start_groups_kql(params, target), time_column, ((2, 1), (4, 3))),
            with_device_slice(render_fleet_groups_kql(params, target), time_column, ((8, 5),)),
        ]
    assert all("isfuzzy=true" in q for q in queries[:3])
    assert "hash(DeviceName, 2) == 1 and hash(DeviceName, 4) == 3" in queries[3]
    errors = kusto_parser.check_queries(queries)
    assert errors == [[]] * len(queries), [e for e in errors if e]


def test_each_run_starts_with_a_fresh_budget_but_remembers_recent_calls(fleet):
    from hunting_lib.remote.hunt import RemoteHunt

    clock = FakeClock()
    fake, limits = defender(fleet, clock, calls_per_minute=3)
    source = RemoteSource(fake, clock=clock, sleep=clock.sleep, query_budget=2, calls_per_minute=3)
    for _ in range(3):  # three runs' table checks: each within its own budget of 2
        RemoteHunt(source).prepare(HuntParams(**WINDOW))
        assert source.queries_used == 1
    presence(source)  # the fourth call in a minute waits for the first to age out
    assert clock.slept == [60] and limits.refused == 0
