"""The history file: versions and migrations, refusals with one clear line, transactions, locks
and concurrent writers."""

from __future__ import annotations

import multiprocessing
import random
import sqlite3

import pandas as pd
import pytest

from hunting_lib.history import runs as runs_module
from hunting_lib.history import store as store_module
from hunting_lib.history.diff import list_runs
from hunting_lib.history.runs import record_run
from hunting_lib.history.store import APPLICATION_ID, SCHEMA_VERSION, HistoryError, open_history
from tests.history_helpers import counts, findings, program, record

A, B = program("alpha"), program("bravo")


def one_line(error: pytest.ExceptionInfo, path) -> str:
    message = str(error.value)
    assert "\n" not in message and str(path) in message
    return message


def test_a_new_file_is_at_the_current_version_in_wal_mode(tmp_path):
    path = tmp_path / "h.sqlite"
    with open_history(path) as store:
        assert store.query("PRAGMA user_version")[0][0] == SCHEMA_VERSION == 1
        assert store.query("PRAGMA application_id")[0][0] == APPLICATION_ID
        assert store.query("PRAGMA journal_mode")[0][0] == "wal"
        tables = {row[0] for row in store.query("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"runs", "run_parameters", "group_counts", "findings", "verdicts", "boundary_reports"} <= tables
    with open_history(path, create=False) as again:  # opening again changes nothing
        assert again.query("PRAGMA user_version")[0][0] == SCHEMA_VERSION


def version_0_file(path) -> list[tuple]:
    """The prototype's file: a bare runs table, no version set."""
    rows = [(1, "2026-10-05T08:00:00Z", '{"threshold": 3}'), (2, "2026-10-12T08:00:00.5Z", '{"threshold": 5}'),
            (5, "2026-10-19T08:00:00+00:00", None)]
    connection = sqlite3.connect(path)
    connection.execute("CREATE TABLE runs (id INTEGER PRIMARY KEY, recorded_at TEXT, parameters TEXT)")
    connection.executemany("INSERT INTO runs VALUES (?, ?, ?)", rows)
    connection.commit()
    connection.close()
    return rows


def test_a_version_0_file_migrates_without_losing_rows(tmp_path):
    path = tmp_path / "old.sqlite"
    rows = version_0_file(path)
    with open_history(path, create=False) as store:
        assert store.query("PRAGMA user_version")[0][0] == SCHEMA_VERSION
        migrated = store.query("SELECT r.id, r.recorded_at, p.parameters FROM runs r "
                               "JOIN run_parameters p ON p.run_id = r.id ORDER BY r.id")
        assert [row[0] for row in migrated] == [1, 2, 5]
        assert [row[1] for row in migrated] == [pd.Timestamp(row[1]).value for row in rows]
        assert [row[2] for row in migrated] == ['{"threshold": 3}', '{"threshold": 5}', "{}"]
        assert "runs_v0" not in {r[0] for r in store.query("SELECT name FROM sqlite_master")}
        # the migrated file takes new runs after the old ids
        assert record_run(store, record(0, counts([A], week=0))) == 6
        assert list(list_runs(store)["RunId"]) == [1, 2, 5, 6]


def test_a_failed_migration_leaves_the_file_as_it_was(tmp_path, monkeypatch):
    path = tmp_path / "old.sqlite"
    version_0_file(path)

    def half_then_fail(connection):
        connection.execute("ALTER TABLE runs RENAME TO runs_v0")
        raise RuntimeError("disk full, say")

    monkeypatch.setattr(store_module, "MIGRATIONS", (half_then_fail,))
    with pytest.raises(RuntimeError):
        open_history(path, create=False)
    connection = sqlite3.connect(path)
    assert connection.execute("PRAGMA user_version").fetchone()[0] == 0
    assert connection.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == 3
    connection.close()


def test_a_file_from_a_newer_kit_is_refused(tmp_path):
    path = tmp_path / "new.sqlite"
    open_history(path).close()
    connection = sqlite3.connect(path)
    connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    connection.close()
    with pytest.raises(HistoryError) as error:
        open_history(path)
    assert "newer version of the kit" in one_line(error, path)
    assert f"schema {SCHEMA_VERSION + 1}" in str(error.value)


@pytest.mark.parametrize("content", [bytes(random.Random(15).randrange(256) for _ in range(8192)),
                                     b"Timestamp,DeviceName\n2026-11-02,pc-01\n"], ids=["random-bytes", "csv"])
def test_a_file_that_is_not_sqlite_is_refused_and_left_alone(tmp_path, content):
    path = tmp_path / "h.sqlite"
    path.write_bytes(content)
    with pytest.raises(HistoryError) as error:
        open_history(path)
    assert "not a readable hunt history file" in one_line(error, path)
    assert path.read_bytes() == content


def test_a_corrupt_page_is_an_error_not_a_traceback(tmp_path):
    path = tmp_path / "h.sqlite"
    with open_history(path) as store:
        many = counts([program(f"p{i}") for i in range(400)], week=0)
        record_run(store, record(0, many, findings(many)))
        store.query("PRAGMA wal_checkpoint(TRUNCATE)")
    data = bytearray(path.read_bytes())
    data[4096 * 2:4096 * 6] = bytes(random.Random(3).randrange(256) for _ in range(4096 * 4))
    path.write_bytes(bytes(data))
    with pytest.raises(HistoryError) as error:
        with open_history(path) as store:
            list_runs(store)
            store.query("PRAGMA integrity_check")
            store.frame("SELECT * FROM group_counts")
            store.frame("SELECT * FROM findings")
    assert str(path) in one_line(error, path)


def test_another_programs_sqlite_file_is_refused(tmp_path):
    path = tmp_path / "crm.sqlite"
    connection = sqlite3.connect(path)
    connection.execute("CREATE TABLE customers (id INTEGER, name TEXT)")
    connection.commit()
    connection.close()
    with pytest.raises(HistoryError) as error:
        open_history(path)
    assert "not a hunt history" in one_line(error, path)
    other = tmp_path / "other.sqlite"
    connection = sqlite3.connect(other)
    connection.execute("PRAGMA application_id = 42")
    connection.commit()
    connection.close()
    with pytest.raises(HistoryError, match="another program"):
        open_history(other)


def test_a_folder_a_missing_file_and_an_unwritable_path_are_refused(tmp_path):
    with pytest.raises(HistoryError) as error:
        open_history(tmp_path)
    assert "is a folder" in one_line(error, tmp_path)
    missing = tmp_path / "none.sqlite"
    with pytest.raises(HistoryError) as error:
        open_history(missing, create=False)
    assert "no history file there" in one_line(error, missing)
    assert not missing.exists()
    blocked = tmp_path / "a-file.txt"
    blocked.write_text("not a folder")
    inside = blocked / "h.sqlite"
    with pytest.raises(HistoryError) as error:
        open_history(inside)
    assert "cannot open or write" in one_line(error, inside)


def test_a_failure_part_way_through_a_record_leaves_no_partial_run(tmp_path, monkeypatch):
    path = tmp_path / "h.sqlite"
    with open_history(path) as store:
        first = record_run(store, record(0, counts([A], week=0), findings(counts([A], week=0))))
    real = runs_module._insert_rows

    def insert_then_fail(connection, *args):
        real(connection, *args)  # the run, its counts and findings are written ...
        raise sqlite3.OperationalError("disk I/O error")  # ... and then the disk fails

    monkeypatch.setattr(runs_module, "_insert_rows", insert_then_fail)
    group = counts([A, B], week=1)
    with open_history(path) as store:
        with pytest.raises(HistoryError) as error:
            record_run(store, record(1, group, findings(group)))
        assert "cannot open or write" in one_line(error, path)
    monkeypatch.undo()
    with open_history(path) as store:
        assert list(list_runs(store)["RunId"]) == [first]
        for table in ("group_counts", "findings", "run_parameters"):
            assert store.query(f"SELECT COUNT(*) FROM {table}")[0][0] == 1, table


def test_a_locked_file_is_an_error_after_the_busy_timeout_and_readers_still_read(tmp_path):
    path = tmp_path / "h.sqlite"
    with open_history(path) as store:
        record_run(store, record(0, counts([A], week=0)))
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with open_history(path, busy_timeout=0.2) as store:
            assert len(list_runs(store)) == 1  # WAL: a reader never waits for the writer
            with pytest.raises(HistoryError) as error:
                record_run(store, record(1, counts([B], week=1)))
            assert "locked by another process" in one_line(error, path)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    with open_history(path) as store:
        assert len(list_runs(store)) == 1
        record_run(store, record(1, counts([B], week=1)))  # free again
        assert len(list_runs(store)) == 2


def test_a_locked_file_that_is_not_in_wal_mode_yet_is_an_error(tmp_path):
    path = tmp_path / "old.sqlite"
    version_0_file(path)  # rollback journal, as the prototype left it
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(HistoryError) as error:
            open_history(path, busy_timeout=0.2)
        assert "locked" in one_line(error, path)
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def _record_weeks(path: str, worker: int, weeks: int) -> None:
    """One hunt process: records ``weeks`` runs, each with its own groups."""
    with open_history(path, busy_timeout=60) as store:
        for week in range(weeks):
            group = counts([program(f"w{worker}x{week}x{i}") for i in range(30)], week=week)
            record_run(store, record(week, group, findings(group.iloc[:3])))


def test_concurrent_hunts_record_every_run_and_keep_the_file_sound(tmp_path):
    path = tmp_path / "shared.sqlite"  # not there yet: the hunts also race to create and migrate it
    workers, weeks = 4, 5
    context = multiprocessing.get_context("fork")
    processes = [context.Process(target=_record_weeks, args=(str(path), w, weeks)) for w in range(workers)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(120)
    assert [p.exitcode for p in processes] == [0] * workers
    with open_history(path) as store:
        runs = list_runs(store)
        assert len(runs) == workers * weeks
        assert set(runs["Groups"]) == {30} and set(runs["Findings"]) == {3}
        assert store.query("SELECT COUNT(*) FROM group_counts")[0][0] == workers * weeks * 30
        assert store.query("PRAGMA integrity_check") == [("ok",)]
