"""Recording runs, ``History`` (new-terms semantics), overlap de-duplication, list and diff."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from hunting_lib.errors import BadInputError
from hunting_lib.history.diff import diff_runs, list_runs
from hunting_lib.history.runs import already_counted, history_of, iso, record_run
from hunting_lib.history.store import HistoryError, open_history
from tests.history_helpers import WEEK, counts, findings, program, record, window

A, B, C, D, E = (program(name) for name in ("alpha", "bravo", "charlie", "delta", "echo"))


def updater(user: str) -> tuple[str, str, str]:
    """A per-user copy of one updater, with its version in the folder (one GroupKey for all)."""
    folder = f"C:\\Users\\{user}\\AppData\\Local\\Upd\\1.2.{len(user)}\\upd.exe"
    return "upd.exe", f'"{folder}" /silent', folder


@pytest.fixture
def store(tmp_path):
    with open_history(tmp_path / "history.sqlite") as opened:
        yield opened


def history_by_key(store, frame: pd.DataFrame, week: int, lookback=None) -> dict[str, dict]:
    start, _ = window(week)
    found = history_of(store, frame["GroupKey"], start, lookback, frame["FirstSeen"])
    assert list(found.index) == list(frame.index)
    return dict(zip(found["GroupKey"], found["History"]))


def test_two_consecutive_windows_mark_new_exactly_the_keys_the_first_never_saw(store):
    # week 0: alpha is rare (a finding); bravo and charlie ran often (counts only); alice's updater
    week0 = counts([A, B, C, updater("alice")], week=0)
    record_run(store, record(0, week0, findings(week0.iloc[[0]])))
    # week 1: alpha again, charlie (rare now), bob's copy of the updater, and two never seen
    week1 = counts([A, C, updater("bob"), D, E], week=1, count=1)
    assert week1["GroupKey"].iloc[2] == week0["GroupKey"].iloc[3]  # one key for both copies
    history = history_by_key(store, week1, week=1)
    new = {key for key, h in history.items() if h["New"]}
    assert new == set(week1["GroupKey"]) - set(week0["GroupKey"])
    assert new == set(week1["GroupKey"].iloc[[3, 4]])
    # a group that was only counted (never a finding) is "seen": new terms over the data
    charlie = history[week1["GroupKey"].iloc[1]]
    assert charlie == {"New": False, "FirstSeen": iso(window(0)[0] + pd.Timedelta(hours=1)), "RunsSeen": 1}
    # a new key's FirstSeen is this run's own first launch
    assert history[week1["GroupKey"].iloc[3]] == {"New": True, "FirstSeen": iso(window(1)[0] + pd.Timedelta(hours=1)),
                                                  "RunsSeen": 0}


def test_runs_seen_counts_earlier_runs_and_first_seen_is_the_earliest(store):
    for week in (0, 1):
        record_run(store, record(week, counts([A], week=week, hours=3 + week)))
    now = counts([A], week=2)
    history = history_by_key(store, now, week=2)[now["GroupKey"].iloc[0]]
    assert history == {"New": False, "RunsSeen": 2, "FirstSeen": iso(window(0)[0] + pd.Timedelta(hours=3))}


def test_a_rerun_of_the_same_window_does_not_make_its_keys_seen_before(store):
    week0 = counts([A, B], week=0)
    record_run(store, record(0, week0))
    record_run(store, record(0, week0))  # the same hunt, run again
    history = history_by_key(store, week0, week=0)
    assert all(h["New"] and h["RunsSeen"] == 0 for h in history.values())


def test_an_overlapping_window_is_not_earlier(store):
    start0, _ = window(0)
    overlapping = record(0, counts([A], week=0))
    overlapping.window_end = window(1)[0] + pd.Timedelta(hours=12)  # runs half a day into week 1
    record_run(store, overlapping)
    now = counts([A], week=1)
    assert history_by_key(store, now, week=1)[now["GroupKey"].iloc[0]]["New"] is True
    # the run recorded now is not earlier than itself either
    record_run(store, record(1, now))
    assert history_by_key(store, now, week=1)[now["GroupKey"].iloc[0]]["New"] is True


def test_the_lookback_only_counts_launches_inside_it(store):
    record_run(store, record(0, counts([A], week=0)))  # A's last launch: day 2 of week 0
    now = counts([A], week=3)
    key = now["GroupKey"].iloc[0]
    assert history_by_key(store, now, week=3, lookback=pd.Timedelta(days=7))[key]["New"] is True
    assert history_by_key(store, now, week=3, lookback=pd.Timedelta(days=28))[key]["New"] is False
    assert history_by_key(store, now, week=3, lookback=None)[key]["RunsSeen"] == 1


def test_runs_without_a_window_take_it_from_the_data(store):
    record_run(store, record(None, counts([A, B], week=0)))
    now = counts([A, C], week=1)
    # no window start given: this run's earliest launch is its start
    found = history_of(store, now["GroupKey"], None, None, now["FirstSeen"])
    assert [h["New"] for h in found["History"]] == [False, True]
    runs = list_runs(store)
    assert runs["WindowStart"].iloc[0] == window(0)[0] + pd.Timedelta(hours=1)
    assert runs["WindowEnd"].iloc[0] == window(0)[0] + pd.Timedelta(hours=25, nanoseconds=1)
    # with neither a start nor first launches, nothing is earlier
    assert all(h["New"] for h in history_of(store, now["GroupKey"], None, None)["History"])


def launches(rows: list[tuple[str, str, pd.Timestamp]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["DeviceId", "ReportId", "Timestamp"])


def test_an_overlap_reads_late_events_and_counts_every_launch_once(store):
    overlap = pd.Timedelta(minutes=30)
    _, end0 = window(0)
    start1, end1 = window(1)
    seen_by_run1 = launches([("dev-1", "11", end0 - pd.Timedelta(minutes=10)),
                             ("dev-1", "12", end0 - pd.Timedelta(minutes=20)),
                             ("dev-1", "10", end0 - pd.Timedelta(hours=2))])
    tail = seen_by_run1[seen_by_run1["Timestamp"] >= end0 - overlap].assign(GroupKey="gk-0000000000000001")
    record_run(store, record(0, counts([A], week=0), boundary=tail))
    # arrived after run 1: a launch from its last minutes; also the same ReportId on another device
    late = launches([("dev-1", "13", end0 - pd.Timedelta(minutes=5)), ("dev-2", "11", end0 - pd.Timedelta(minutes=8))])
    inside = launches([("dev-1", "14", start1 + pd.Timedelta(hours=1))])
    read = pd.concat([seen_by_run1, late, inside], ignore_index=True)
    read = read[(read["Timestamp"] >= start1 - overlap) & (read["Timestamp"] < end1)].reset_index(drop=True)
    counted = already_counted(store, read, window_start=start1)
    assert counted.dtype == bool
    assert list(read.loc[counted, "ReportId"]) == ["11", "12"]
    kept = read[~counted]
    assert sorted(zip(kept["DeviceId"], kept["ReportId"])) == [("dev-1", "13"), ("dev-1", "14"), ("dev-2", "11")]
    # each launch counted exactly once over the two runs
    assert len(seen_by_run1) + len(kept) == len(pd.concat([seen_by_run1, late, inside]))


def test_a_rerun_keeps_its_own_tail_and_a_later_run_prunes_older_tails(store):
    _, end0 = window(0)
    tail = launches([("dev-1", "11", end0 - pd.Timedelta(minutes=10))])
    record_run(store, record(0, counts([A], week=0), boundary=tail))
    # re-running week 0 must not drop week 0's own launches
    assert not already_counted(store, tail, window_start=window(0)[0]).any()
    assert already_counted(store, tail).all()  # without a window: any stored tail
    tail1 = launches([("dev-1", "21", window(1)[1] - pd.Timedelta(minutes=3))])
    record_run(store, record(1, counts([A], week=1), boundary=tail1))
    record_run(store, record(2, counts([A], week=2)))
    stored = store.query("SELECT run_id, report_id FROM boundary_reports ORDER BY run_id")
    assert stored == []  # week 2 follows both: their tails were read again or never will be
    assert not already_counted(store, pd.concat([tail, tail1])).any()
    assert already_counted(store, launches([])).shape == (0,)


def test_sources_are_stored_by_name_and_parameters_as_json(store, tmp_path):
    sources = {"DeviceProcessEvents": "/home/ann/cases/acme/DeviceProcessEvents.csv",
               "DeviceEvents": ["C:\\cases\\acme\\DeviceEvents\\part-1.parquet", "part-2.parquet"],
               "remote": "MSSentinel"}
    run_id = record_run(store, record(0, counts([A], week=0), sources=sources))
    runs = list_runs(store)
    assert runs.loc[0, "Sources"] == {"DeviceProcessEvents": "DeviceProcessEvents.csv",
                                      "DeviceEvents": ["part-1.parquet", "part-2.parquet"], "remote": "MSSentinel"}
    stored = json.loads(store.query("SELECT parameters FROM run_parameters WHERE run_id = ?", [run_id])[0][0])
    assert stored == {"threshold": 3, "start": window(0)[0].isoformat()}
    store.close()
    raw = b"".join(path.read_bytes() for path in tmp_path.glob("history.sqlite*"))  # the WAL too, if any
    assert b"MSSentinel" in raw
    assert b"/home/ann" not in raw and b"cases\\acme" not in raw


def test_findings_keep_scores_reasons_and_lower_case_sha1s(store):
    group = counts([A], week=0)
    found = findings(group, sha1s=[["AB" * 20, "ab" * 20, "CD" * 20]], score=7.5)
    run_id = record_run(store, record(0, group, found))
    row = store.query("SELECT score, reasons, sha1s, rank FROM findings WHERE run_id = ?", [run_id])[0]
    assert row == (7.5, '["user_writable_folder"]', json.dumps(["ab" * 20, "cd" * 20]), 1)


def test_record_refuses_counts_without_their_columns(store):
    group = counts([A], week=0).drop(columns=["DeviceCount"])
    with pytest.raises(BadInputError, match="group_counts lacks the column.*DeviceCount"):
        record_run(store, record(0, group))
    assert list_runs(store).empty


def test_list_runs_and_diff_between_two_runs(store):
    group0 = counts([A, B, C], week=0)
    run1 = record_run(store, record(0, group0, findings(group0.iloc[[0, 1]])))
    group1 = counts([B, C, D], week=1, count=1)
    run2 = record_run(store, record(1, group1, findings(group1, score=6.0)))
    runs = list_runs(store)
    assert list(runs["RunId"]) == [run1, run2]
    assert list(runs["Groups"]) == [3, 3]
    assert list(runs["Findings"]) == [2, 3]
    assert list(runs["NewFindings"]) == [2, 1]  # run 2: only delta was never started before
    assert runs.loc[1, "WindowStart"] == window(1)[0] and runs.loc[1, "WindowEnd"] == window(1)[1]
    changes = diff_runs(store, run1, run2)
    key = dict(zip([A, B, C, D], counts([A, B, C, D], week=0)["GroupKey"]))
    appeared = dict(zip(changes["appeared"]["GroupKey"], changes["appeared"]["WasRunning"]))
    assert appeared == {key[C]: True, key[D]: False}  # charlie became rare; delta is new
    assert set(changes["appeared"]["Score"]) == {6.0}
    vanished = dict(zip(changes["vanished"]["GroupKey"], changes["vanished"]["StillRunning"]))
    assert vanished == {key[A]: False}
    assert list(changes["groups_appeared"]["GroupKey"]) == [key[D]]
    assert list(changes["groups_vanished"]["GroupKey"]) == [key[A]]
    assert diff_runs(store, run2, run2)["appeared"].empty
    with pytest.raises(HistoryError, match="run 99 is not recorded"):
        diff_runs(store, run1, 99)


def test_per_user_copies_are_one_finding_in_a_diff(store):
    group = counts([updater("alice"), updater("bob")], week=0, count=1)
    run1 = record_run(store, record(0, counts([A], week=0)))
    run2 = record_run(store, record(1, group, findings(group)))
    appeared = diff_runs(store, run1, run2)["appeared"]
    assert len(appeared) == 1 and int(appeared["Count"].iloc[0]) == 2
    assert np.asarray(appeared["WasRunning"]).tolist() == [False]
    assert WEEK == pd.Timedelta(days=7)


def test_report_ids_typed_as_the_loader_types_them_still_match(store):
    _, end0 = window(0)
    tail = pd.DataFrame({"DeviceId": ["dev-1", "dev-1"], "ReportId": pd.array([11, 12], dtype="Int64"),
                         "Timestamp": [end0 - pd.Timedelta(minutes=1)] * 2})
    record_run(store, record(0, counts([A], week=0), boundary=tail))
    asked = pd.DataFrame({"DeviceId": ["dev-1", "dev-1", "dev-1"], "ReportId": pd.array([12, None, 13], dtype="Int64")})
    assert already_counted(store, asked, window_start=window(1)[0]).tolist() == [True, False, False]


def test_a_run_that_saw_nothing_is_recorded_with_no_groups(store):
    run_id = record_run(store, record(0, pd.DataFrame(), pd.DataFrame()))
    runs = list_runs(store)
    assert list(runs["RunId"]) == [run_id] and list(runs["Groups"]) == [0] and list(runs["Findings"]) == [0]
    assert (runs.loc[0, "WindowStart"], runs.loc[0, "WindowEnd"]) == window(0)
    # ... and it still counts as an earlier run that never started anything
    now = counts([A], week=1)
    assert history_by_key(store, now, week=1)[now["GroupKey"].iloc[0]]["New"] is True
