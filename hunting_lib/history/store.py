"""The hunt history file: one SQLite database, opened, checked and migrated here.

Every other history module goes through ``HistoryStore`` so that any SQLite failure becomes one
``HistoryError`` line that names the file (corrupt, not SQLite, locked, from a newer kit), and
every write is one transaction: a run or a verdict is recorded whole or not at all.

Concurrent hunts may share a file: it is kept in WAL mode (readers never wait for a writer),
writers take the write lock up front (``BEGIN IMMEDIATE``) and wait up to ``busy_timeout``
seconds for another writer before giving up with "locked".

Schema versions live in ``PRAGMA user_version``. ``MIGRATIONS[n]`` takes a file from version
``n`` to ``n + 1``; all pending ones run in one transaction, so a failed upgrade leaves the file
as it was. Version 0 is the prototype's shape: a bare ``runs`` table (id, recorded_at,
parameters as JSON), or an empty file.
"""

from __future__ import annotations

import os
import sqlite3
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from hunting_lib.errors import BadInputError

SCHEMA_VERSION = 1
#: Marks a file as a hunt history (``PRAGMA application_id``), so another program's SQLite file
#: is refused rather than written to.
APPLICATION_ID = 0x48554E54  # "HUNT"
#: Seconds a writer waits for another writer; ``HUNTING_LIB_HISTORY_TIMEOUT`` overrides it.
DEFAULT_BUSY_TIMEOUT = 10.0
TIMEOUT_VARIABLE = "HUNTING_LIB_HISTORY_TIMEOUT"


class HistoryError(BadInputError):
    """The history file cannot be used: one line naming the file and what is wrong."""


_V1_TABLES = """
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    recorded_at INTEGER NOT NULL,             -- times: nanoseconds since 1970, UTC
    kit_version TEXT NOT NULL DEFAULT '',
    window_start INTEGER,                     -- as given (None: the data's first event)
    window_end INTEGER,                       -- as given, exclusive
    span_start INTEGER,                       -- the window that decides "earlier": as given,
    span_end INTEGER,                         -- else from the data the run saw
    latest_event INTEGER,
    sources TEXT NOT NULL DEFAULT '{}'        -- JSON: table -> file or provider name, never a path
);
CREATE TABLE IF NOT EXISTS run_parameters (
    run_id INTEGER PRIMARY KEY REFERENCES runs(id) ON DELETE CASCADE,
    parameters TEXT NOT NULL                  -- JSON
);
CREATE TABLE IF NOT EXISTS groups (          -- each distinct group once, whatever the runs that saw it
    id INTEGER PRIMARY KEY,
    group_key TEXT NOT NULL,
    group_pattern TEXT NOT NULL,
    file_name TEXT NOT NULL,
    command_line TEXT NOT NULL,
    folder_path TEXT NOT NULL                -- one row per (key, raw triple): looked up by key, the
);                                           -- strings are not indexed twice
CREATE INDEX IF NOT EXISTS groups_by_key ON groups (group_key);
CREATE TABLE IF NOT EXISTS group_counts (    -- per run, every group the scheduler started
    run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    group_id INTEGER NOT NULL REFERENCES groups(id),
    count INTEGER NOT NULL,
    device_count INTEGER NOT NULL,
    first_seen INTEGER,
    last_seen INTEGER
);
CREATE INDEX IF NOT EXISTS group_counts_by_group ON group_counts (group_id, run_id);
CREATE INDEX IF NOT EXISTS group_counts_by_run ON group_counts (run_id);
CREATE TABLE IF NOT EXISTS findings (
    run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    rank INTEGER NOT NULL,
    group_key TEXT NOT NULL,
    group_pattern TEXT NOT NULL,
    file_name TEXT NOT NULL,
    command_line TEXT NOT NULL,
    folder_path TEXT NOT NULL,
    count INTEGER NOT NULL,
    device_count INTEGER NOT NULL,
    score REAL,
    reasons TEXT NOT NULL DEFAULT '[]',       -- JSON list
    suppressed_by TEXT,
    sha1s TEXT NOT NULL DEFAULT '[]'          -- JSON list, lower case
);
CREATE INDEX IF NOT EXISTS findings_by_key ON findings (group_key, run_id);
CREATE INDEX IF NOT EXISTS findings_by_run ON findings (run_id);
CREATE TABLE IF NOT EXISTS verdicts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    group_key TEXT NOT NULL,
    verdict TEXT NOT NULL CHECK (verdict IN ('benign', 'malicious', 'follow-up')),
    analyst TEXT NOT NULL,
    note TEXT NOT NULL DEFAULT '',
    at INTEGER NOT NULL,
    expires INTEGER,
    sha1s TEXT NOT NULL DEFAULT '[]',
    group_pattern TEXT
);
CREATE INDEX IF NOT EXISTS verdicts_by_key ON verdicts (group_key, at);
CREATE TABLE IF NOT EXISTS boundary_reports (
    run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    device_id TEXT NOT NULL,
    report_id TEXT NOT NULL,
    group_key TEXT,
    timestamp INTEGER
);
CREATE INDEX IF NOT EXISTS boundary_by_report ON boundary_reports (device_id, report_id);
CREATE INDEX IF NOT EXISTS boundary_by_run ON boundary_reports (run_id);
"""

_V0_RUN_COLUMNS = {"id", "recorded_at", "parameters"}


def _apply_v1(connection: sqlite3.Connection) -> None:
    """Version 0 (a bare ``runs`` table, or nothing) to 1: the full schema.

    The prototype's runs keep their ids and times (ISO text becomes nanoseconds) and their
    parameters move to ``run_parameters``.
    """
    old = {row[1] for row in connection.execute("PRAGMA table_info(runs)")}
    if old:
        connection.execute("ALTER TABLE runs RENAME TO runs_v0")
    for statement in _V1_TABLES.split(";"):
        if statement.strip():
            connection.execute(statement)
    if old:
        rows = connection.execute("SELECT id, recorded_at, parameters FROM runs_v0 ORDER BY id").fetchall()
        for run_id, recorded_at, parameters in rows:
            connection.execute("INSERT INTO runs (id, recorded_at) VALUES (?, ?)",
                               (run_id, _v0_time(recorded_at)))
            connection.execute("INSERT INTO run_parameters (run_id, parameters) VALUES (?, ?)",
                               (run_id, parameters if parameters else "{}"))
        connection.execute("DROP TABLE runs_v0")


def _v0_time(value: object) -> int:
    """A version-0 ``recorded_at`` (ISO text) as nanoseconds; 0 when it cannot be read."""
    import pandas as pd

    stamp = pd.to_datetime(value, utc=True, errors="coerce")
    return 0 if pd.isna(stamp) else int(stamp.value)


#: ``MIGRATIONS[n]`` takes a file from version n to n + 1.
MIGRATIONS: Sequence[Callable[[sqlite3.Connection], None]] = (_apply_v1,)


def _is_lock(error: sqlite3.Error) -> bool:
    text = str(error).lower()
    return "locked" in text or "busy" in text


def describe_error(path: Path, error: sqlite3.Error, timeout: float) -> HistoryError:
    """A SQLite error as one line that says what is wrong with which file."""
    text = " ".join(str(error).split())
    if _is_lock(error):
        return HistoryError(f"{path}: the history file is locked by another process (waited {timeout:g} s); "
                            f"try again when it has finished")
    lowered = text.lower()
    if "not a database" in lowered or "malformed" in lowered or "corrupt" in lowered:
        return HistoryError(f"{path}: not a readable hunt history file (not SQLite, or corrupt: {text})")
    if "unable to open" in lowered or "readonly" in lowered or "read-only" in lowered or "disk i/o" in lowered:
        return HistoryError(f"{path}: cannot open or write the history file ({text})")
    return HistoryError(f"{path}: history database error ({text})")


class HistoryStore:
    """An open history file. Use it as a context manager; it closes the connection on exit."""

    def __init__(self, path: Path, connection: sqlite3.Connection, busy_timeout: float) -> None:
        self.path = path
        self.connection = connection
        self.busy_timeout = busy_timeout

    def __enter__(self) -> "HistoryStore":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self.connection.close()

    def error(self, error: sqlite3.Error) -> HistoryError:
        return describe_error(self.path, error, self.busy_timeout)

    def query(self, sql: str, parameters: Sequence[Any] = ()) -> list[tuple]:
        """Rows of a read, with SQLite's errors as ``HistoryError``."""
        try:
            return self.connection.execute(sql, parameters).fetchall()
        except sqlite3.Error as exc:
            raise self.error(exc) from None

    def frame(self, sql: str, parameters: Sequence[Any] = ()):
        """A read as a DataFrame (column names from the query). Values stay Python objects, so
        nanosecond times are never rounded through floats."""
        import pandas as pd

        try:
            cursor = self.connection.execute(sql, parameters)
            names = [d[0] for d in cursor.description]
            return pd.DataFrame(cursor.fetchall(), columns=names, dtype=object)
        except sqlite3.Error as exc:
            raise self.error(exc) from None

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write: the write lock taken up front, everything committed or nothing."""
        connection = self.connection
        try:
            connection.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise self.error(exc) from None
        try:
            yield connection
            connection.execute("COMMIT")
        except BaseException as exc:
            try:
                connection.execute("ROLLBACK")
            except sqlite3.Error:
                pass  # SQLite already rolled back (e.g. after a disk error)
            if isinstance(exc, sqlite3.Error):
                raise self.error(exc) from None
            raise


def _busy_timeout(value: float | None) -> float:
    if value is not None:
        return float(value)
    text = os.environ.get(TIMEOUT_VARIABLE, "").strip()
    if not text:
        return DEFAULT_BUSY_TIMEOUT
    try:
        return max(0.0, float(text))
    except ValueError:
        raise BadInputError(f"{TIMEOUT_VARIABLE}={text!r} is not a number of seconds") from None


def _check_shape(store: HistoryStore, version: int) -> None:
    """Refuse a file from a newer kit, and a SQLite file that is not a hunt history."""
    path = store.path
    if version > SCHEMA_VERSION:
        raise HistoryError(f"{path}: written by a newer version of the kit (history schema {version}; "
                           f"this kit reads up to {SCHEMA_VERSION}); upgrade the kit")
    application = store.query("PRAGMA application_id")[0][0]
    if application not in (0, APPLICATION_ID):
        raise HistoryError(f"{path}: a SQLite file of another program (application id {application}), "
                           f"not a hunt history")
    if version == 0:
        tables = {row[0] for row in store.query("SELECT name FROM sqlite_master WHERE type = 'table'")}
        tables.discard("sqlite_sequence")
        columns = {row[1] for row in store.query("PRAGMA table_info(runs)")}
        if tables - {"runs"} or (tables and not _V0_RUN_COLUMNS <= columns):
            raise HistoryError(f"{path}: a SQLite file that is not a hunt history (tables: "
                               f"{', '.join(sorted(tables))})")


def _migrate(store: HistoryStore) -> None:
    """Bring the file to ``SCHEMA_VERSION``: every pending migration in one transaction."""
    version = store.query("PRAGMA user_version")[0][0]
    _check_shape(store, version)
    if version == SCHEMA_VERSION:
        return
    with store.transaction() as connection:
        # read again under the write lock: another process may have migrated meanwhile
        version = connection.execute("PRAGMA user_version").fetchone()[0]
        for step in MIGRATIONS[version:]:
            step(connection)
        connection.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")


def open_history(path: str | Path, create: bool = True, busy_timeout: float | None = None) -> HistoryStore:
    """Open the history file at ``path`` (created when ``create`` and missing), migrated to
    ``SCHEMA_VERSION``. Any problem is a ``HistoryError`` naming the file."""
    path = Path(path)
    timeout = _busy_timeout(busy_timeout)
    if path.is_dir():
        raise HistoryError(f"{path}: is a folder, not a history file")
    if not create and not path.exists():
        raise HistoryError(f"{path}: no history file there (record a run with hunt --history first)")
    mode = "rwc" if create else "rw"
    try:
        connection = sqlite3.connect(f"{path.resolve().as_uri()}?mode={mode}", uri=True, timeout=timeout,
                                     isolation_level=None, check_same_thread=False)
    except sqlite3.Error as exc:
        raise describe_error(path, exc, timeout) from None
    store = HistoryStore(path, connection, timeout)
    try:
        store.query(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
        store.query("PRAGMA foreign_keys = ON")
        mode_now = store.query("PRAGMA journal_mode")[0][0]
        if str(mode_now).lower() != "wal":
            store.query("PRAGMA journal_mode = WAL")
        store.query("PRAGMA synchronous = FULL")
        _migrate(store)
    except BaseException:
        connection.close()
        raise
    return store
