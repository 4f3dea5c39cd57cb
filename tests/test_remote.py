"""Remote hunts through msticpy: templates, equivalence with the local engine, completeness.

The "remote" side is a real msticpy QueryProvider whose driver runs the rendered KQL in
duckdb-kql over the sample data (tests/fake_drivers.py).
"""

from __future__ import annotations

import warnings

import pandas as pd
import pytest

from tests.conftest import SAMPLE_DATA, oracle

oracle("duckdb_kql", "duckdb-kql needs Python 3.11+")

from hunting_lib.hunt import run_hunt  # noqa: E402
from hunting_lib.params import HuntParams  # noqa: E402
from hunting_lib.remote.provider import RemoteQueryError, RemoteSource, query_provider  # noqa: E402
from tests.fake_drivers import provider  # noqa: E402

WINDOW = dict(start="2026-11-02T00:00:00Z", end="2026-11-10T00:00:00Z")


@pytest.fixture(scope="module")
def sentinel():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return provider(SAMPLE_DATA)


def local(params: HuntParams):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return run_hunt(SAMPLE_DATA, params)


def comparable(result) -> tuple:
    rare = result.rare_tasks
    groups = sorted(
        (r.FileName, r.ProcessCommandLine, r.FolderPath, int(r.Count), int(r.DeviceCount), tuple(r.Devices),
         tuple(r.Accounts), r.FirstSeen, r.LastSeen, r.SuppressedBy or "", float(r.Score), tuple(r.Reasons))
        for r in rare.itertuples())
    order = list(zip(rare["FileName"], rare["ProcessCommandLine"], rare["FolderPath"]))
    activity = sorted(
        (r.DeviceName, r.InitiatingProcessFileName, int(r.InitiatingProcessId), r.InitiatingProcessCommandLine,
         r.InitiatingProcessCreationTime, frozenset(r.Actions), frozenset(r.FileNames), frozenset(r.RemoteIPs))
        for r in result.activity.itertuples())
    return groups, order, activity, sorted(result.activity_rows["ReportId"].dropna().astype(int))


MATRIX = [dict(threshold=t) for t in range(1, 6)] + [
    dict(exclusions=None),
    dict(match="process"),
    dict(match="process", exclusions=None, threshold=4),
    dict(max_devices=1),
    dict(start="2026-11-04T00:00:00Z", end="2026-11-06T12:00:00Z"),
    dict(start="2026-11-05T00:00:00Z", end="2026-11-09T00:00:00Z", match="process", max_devices=2),
]


@pytest.mark.parametrize("options", MATRIX, ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()))
def test_remote_hunt_equals_the_local_engine(sentinel, options):
    params = HuntParams(**{**WINDOW, **options})
    remote = run_hunt(sentinel, params)
    expected = local(params)
    assert list(remote.rare_tasks.columns) == list(expected.rare_tasks.columns)
    assert list(remote.activity.columns) == list(expected.activity.columns)
    assert comparable(remote) == comparable(expected)
    assert len(expected.rare_tasks) > 0 or params.threshold == 1  # count < 1 keeps nothing


def test_templates_print_the_rendered_query_without_a_connection():
    for environment in ("MSSentinel", "MDE", "M365D", "Kusto"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            qry_prov = query_provider(environment)
        text = qry_prov.RareScheduledTasks.rare_scheduled_tasks(
            start="2026-11-01", end="2026-11-08", threshold=4, print_query=True)
        assert "count_ < 4" in text and "SuppressedBy" in text and "HuntStart = datetime(2026-11-01" in text
        hostile = 'x" | where 1==1 //'
        activity = qry_prov.RareScheduledTasks.task_activity_rows(
            start="2026-11-01", end="2026-11-08", print_query=True,
            groups=pd.DataFrame({"FileName": [hostile], "ProcessCommandLine": ["a\\"], "FolderPath": ["p"]}))
        assert '("x\\" | where 1==1 //")' in activity and '("a\\\\")' in activity


def test_sentinel_dialect_filters_on_time_generated():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        qry_prov = query_provider("MSSentinel")
    text = qry_prov.RareScheduledTasks.rare_task_activity(
        start="2026-11-01", end="2026-11-08", dialect="sentinel", print_query=True)
    assert "| where TimeGenerated between (HuntStart .. HuntEnd)" in text


@pytest.mark.parametrize("options", [dict(truncate_at=40), dict(partial_over=40)], ids=["row-limit", "partial"])
def test_cut_results_are_split_and_merged_exactly(options):
    params = HuntParams(**WINDOW, max_devices=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        faulty = provider(SAMPLE_DATA, **options)
    source = RemoteSource(faulty, row_limit=40)
    result = run_hunt(source, params)
    assert comparable(result) == comparable(local(params))
    group_queries = [q for q in faulty._query_provider.queries if "summarize Count = sum(Events)" in q]
    assert len(group_queries) > 2  # the statistics query itself was split and merged


def test_counts_are_summed_across_pieces_before_the_threshold():
    from hunting_lib.engine.rarity import rare_from_statistics
    from hunting_lib.remote.hunt import _merge_group_statistics

    def piece(count, devices, first):
        return pd.DataFrame({"FileName": ["a.exe"], "ProcessCommandLine": ["a"], "FolderPath": ["C:\\a.exe"],
                             "Count": [count], "Devices": [devices], "Accounts": [["system"]],
                             "FirstSeen": [first], "LastSeen": [first]})

    merged = _merge_group_statistics([piece(2, ["pc1"], "2026-11-02T00:00:00Z"),
                                      piece(2, ["pc1", "pc2"], "2026-11-05T00:00:00Z")])
    row = merged.iloc[0]
    assert row["Count"] == 4 and row["Devices"] == ["pc1", "pc2"]
    assert row["FirstSeen"] == pd.Timestamp("2026-11-02T00:00:00Z")
    # Each piece alone is rare at the seed's threshold; the whole is not.
    assert rare_from_statistics(merged, HuntParams()).empty
    assert len(rare_from_statistics(merged, HuntParams(max_devices=2))) == 1


def test_a_piece_that_cannot_be_split_further_stops_the_hunt():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        source = RemoteSource(provider(SAMPLE_DATA, truncate_at=1), row_limit=1)
    with pytest.raises(RemoteQueryError, match="task_start_groups: .* too much for one query"):
        run_hunt(source, HuntParams(**WINDOW))
    # halved in time to under a minute, then by device hash to 1/128 of the fleet, then stopped
    assert source.queries_used < source.query_budget


def test_throttling_is_retried_after_the_service_says():
    waits = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        source = RemoteSource(provider(SAMPLE_DATA, throttle_times=2, timeout_times=1), sleep=waits.append)
    result = run_hunt(source, HuntParams(**WINDOW))
    assert waits == [7.0, 7.0, 2.0]
    assert comparable(result) == comparable(local(HuntParams(**WINDOW)))  # nothing lost to the retries


def test_auth_failure_and_schema_change_are_clear_errors(sentinel):
    from tests.fake_drivers import KqlEngineDriver, ServiceError

    with pytest.raises(ServiceError, match="Invalid client secret"):
        provider(SAMPLE_DATA, auth_fails=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        changed = provider(SAMPLE_DATA, drop_column="Devices")
    with pytest.raises(RemoteQueryError, match="no column Devices"):
        run_hunt(changed, HuntParams(**WINDOW))
    # the error came from the first answer the driver cut: the group statistics, whose Devices
    # column the intact driver returns for the very same query
    driver = changed._query_provider
    assert isinstance(driver, KqlEngineDriver)
    # (after the one query that checks which tables the workspace has)
    assert len(driver.queries) == 2 and "| count | project SourceTable" in driver.queries[0]
    statistics = driver.queries[1]
    assert "summarize Count = sum(Events), Devices = make_set(DeviceName)" in statistics
    intact = sentinel._query_provider.query(statistics)
    assert "Devices" in intact.columns and len(intact) > 0
    assert list(driver.query(statistics).columns) == [c for c in intact.columns if c != "Devices"]


def test_an_empty_window_is_an_empty_complete_result(sentinel):
    result = run_hunt(sentinel, HuntParams(start="2020-01-01", end="2020-01-02"))
    assert result.rare_tasks.empty and result.activity.empty


def test_remote_hunts_read_signers_and_global_prevalence_from_defender():
    """FileProfile() (Defender XDR) and DeviceFileCertificateInfo feed two signals remotely."""
    params = HuntParams(**WINDOW)
    expected = local(params)
    launches = expected.task_starts.merge(expected.rare_tasks[["FileName", "ProcessCommandLine", "FolderPath"]],
                                          on=["FileName", "ProcessCommandLine", "FolderPath"])
    hashes = sorted(set(launches["SHA1"].dropna()) - {""})
    assert len(hashes) >= 3
    profiles = pd.DataFrame({"SHA1": hashes[:1], "GlobalPrevalence": [3], "Signer": [""],
                             "SignatureState": ["Unsigned"], "IsCertificateValid": [False]})
    certificates = pd.DataFrame({"Timestamp": [pd.Timestamp("2026-11-03")], "SHA1": [hashes[1]], "IsSigned": [True],
                                 "IsTrusted": [False], "Signer": ["Fake Corp"]})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        defender = provider(SAMPLE_DATA, environment="MDE", file_profiles=profiles, certificates=certificates)
        result = run_hunt(RemoteSource(defender, dialect="defender"), params)
    rare = result.rare_tasks.merge(launches[["FileName", "ProcessCommandLine", "FolderPath", "SHA1"]].drop_duplicates(),
                                   on=["FileName", "ProcessCommandLine", "FolderPath"])
    first = rare[rare["SHA1"] == hashes[0]].iloc[0]
    assert first["unsigned_binary"] and first["low_global_prevalence"]
    second = rare[rare["SHA1"] == hashes[1]].iloc[0]
    assert second["unsigned_binary"] and not second["low_global_prevalence"]  # signed, but not trusted
    others = rare[~rare["SHA1"].isin(hashes[:2])]
    assert not others["unsigned_binary"].any()
    queries = defender._query_provider.queries
    assert any("invoke FileProfile()" in q for q in queries)
    assert any("DeviceFileCertificateInfo" in q for q in queries)


def test_sentinel_hunts_do_not_ask_for_file_profiles(sentinel):
    sentinel._query_provider.queries.clear()
    run_hunt(RemoteSource(sentinel, dialect="sentinel"), HuntParams(**WINDOW))
    assert not any("FileProfile" in q for q in sentinel._query_provider.queries)
