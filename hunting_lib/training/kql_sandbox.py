"""Run a trainee's KQL on a local data folder with duckdb-kql, and say in one line what went wrong.

duckdb-kql (an open-source engine that translates KQL to DuckDB SQL) is independent of the kit:
the tests use the same loading (``load_into_duckdb``) to run the published query unmodified as
the oracle the kit's pandas engine is checked against. The course uses it so that a trainee's
own query runs on the sample without a Sentinel workspace.

A query that does not run is one of three kinds, never a traceback:

- ``syntax``: not valid KQL (Microsoft's Kusto parser, where Node is present, says where);
- ``unsupported``: valid KQL the local engine cannot run (``mv-apply``, some functions): the
  query is not wrong, it just cannot be graded here;
- ``error``: it parses, but does not fit these tables (an unknown column, a type mismatch), or
  ran too long.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import pandas as pd

from hunting_lib import clock
from hunting_lib.engine.files import find_table_files
from hunting_lib.engine.loader import ensure_columns, load_table
from hunting_lib.schema import TABLES, table_columns
from hunting_lib.training import kusto_check

#: DuckDB types of the Defender types. Times are TIMESTAMP_NS in UTC: TIMESTAMPTZ keeps only
#: microseconds, and advanced-hunting times have 100 ns digits that process keys depend on.
DUCKDB_TYPES = {"string": "VARCHAR", "dynamic": "VARCHAR", "long": "BIGINT", "int": "BIGINT",
                "datetime": "TIMESTAMP_NS", "bool": "BOOLEAN"}
#: Rows read back from one query: a trainee's ``DeviceProcessEvents`` without a filter must not
#: fill the notebook's memory.
MAX_ROWS = 20_000
#: Seconds a query may run before it is stopped (the sample's tables answer in well under one).
QUERY_SECONDS = 60.0
#: Longest problem line shown (a duckdb message can quote a whole SQL translation).
MAX_PROBLEM_CHARS = 300
#: Kusto's diagnostics about names (unknown column, table, function) and types: the query
#: parses, but does not fit these tables. Everything else Kusto reports is syntax.
_SEMANTIC = re.compile(r"does not refer to any known|is not defined for the operand|must have the type",
                       re.IGNORECASE)
_RAW_SUFFIXES = (".parquet", ".csv.gz", ".csv")


def read_defender_table(path: Path, table: str) -> pd.DataFrame:
    """One table file (parquet or CSV) with Defender types, read independently of the kit's
    loader: strings ("" for missing), Int64 numbers, naive UTC times."""
    if path.name.endswith(".parquet"):
        frame = pd.read_parquet(path, dtype_backend="numpy_nullable")
    else:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    types = table_columns(table)
    for col in frame.columns:
        kind = types.get(col, "string")  # columns the schema does not know stay text
        if kind in ("long", "int"):
            frame[col] = pd.to_numeric(frame[col].replace("", pd.NA)).astype("Int64")
        elif kind == "datetime":
            times = pd.to_datetime(frame[col].replace("", pd.NA), utc=True, format="ISO8601")
            frame[col] = times.dt.tz_convert(None)
        else:
            frame[col] = frame[col].fillna("").astype(object)
    return frame


def _table_frame(data_dir: Path, table: str) -> pd.DataFrame | None:
    """``<table>.parquet|.csv.gz|.csv`` read as above; another layout (JSON, a folder of parts)
    through the kit's loader; None when the folder lacks the table."""
    for suffix in _RAW_SUFFIXES:
        path = data_dir / f"{table}{suffix}"
        if path.exists():
            return read_defender_table(path, table)
    found = find_table_files(data_dir).get(table)
    return None if found is None else load_table(found, table)


def _create_empty(con: Any, table: str) -> None:
    columns = ", ".join(f'"{c}" {DUCKDB_TYPES[t]}' for c, t in table_columns(table).items())
    con.execute(f'CREATE TABLE "{table}" ({columns})')


def add_frame(con: Any, table: str, frame: pd.DataFrame) -> None:
    """Create ``table`` from ``frame`` (changed in place: UTC times become naive, as DuckDB wants them)."""
    for column in frame.columns:
        if isinstance(frame[column].dtype, pd.DatetimeTZDtype):
            frame[column] = frame[column].dt.tz_convert(None)
    con.register("_incoming", frame)
    con.execute(f'CREATE TABLE "{table}" AS SELECT * FROM _incoming')
    con.unregister("_incoming")


def load_into_duckdb(data_dir: str | Path, full_schema: bool = False) -> Any:
    """A duckdb_kql connection holding each of the seven tables, all columns, under its own name.

    A table the folder lacks is created empty with the schema's columns, so a ``union`` still
    runs. With ``full_schema``, every schema column a file lacks is added empty too, as a
    workspace's table always has all its columns (queries that project them then run as there).
    """
    import duckdb_kql  # the course's optional dependency (extra "training")

    con = duckdb_kql.connect()
    for table in TABLES:
        frame = _table_frame(Path(data_dir), table)
        if frame is None:
            _create_empty(con, table)
            continue
        if full_schema:
            frame = ensure_columns(frame, table, list(table_columns(table)))
        add_frame(con, table, frame.copy())
    return con


def connect_frames(frames: dict[str, pd.DataFrame]) -> Any:
    """A duckdb_kql connection holding the given tables (typed as the loader types them), each
    with every schema column, and the tables not given as empty ones."""
    import duckdb_kql

    con = duckdb_kql.connect()
    for table in TABLES:
        frame = frames.get(table)
        if frame is None:
            _create_empty(con, table)
            continue
        add_frame(con, table, ensure_columns(frame, table, list(table_columns(table))).copy())
    return con


def _folder_stamp(folder: Path) -> int:
    """Changes when a table file is rewritten (a regenerated sample is loaded again)."""
    return sum(p.stat().st_mtime_ns for p in folder.iterdir() if p.name.split(".")[0] in TABLES)


@lru_cache(maxsize=4)
def _connection(folder: str, stamp: int) -> Any:
    return load_into_duckdb(folder, full_schema=True)


def sandbox_connection(data_dir: str | Path | None = None) -> Any:
    """The duckdb_kql connection of a data folder, loaded once per folder (about 4 s for the sample)."""
    folder = _default_folder(data_dir)
    return _connection(str(folder.resolve()), _folder_stamp(folder))


def _default_folder(data_dir: str | Path | None) -> Path:
    if data_dir is not None:
        return Path(data_dir)
    from hunting_lib.training.data import exercise_data  # the course's chosen folder

    return exercise_data(None).folder


@dataclass
class KqlRun:
    """One query's outcome: its rows, or the kind of problem and one line that says it."""

    query: str
    frame: pd.DataFrame | None = None
    kind: str = "ok"  # ok | syntax | unsupported | error
    problem: str = ""
    #: True when the result had more than ``MAX_ROWS`` rows and only those were read
    truncated: bool = False
    #: who judged the text: "kusto" (Microsoft's parser) or "duckdb-kql" (the parser was not available)
    parser: str = "kusto"
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.kind == "ok"

    def __str__(self) -> str:
        if self.ok:
            rows = f"{len(self.frame)}{'+' if self.truncated else ''} rows"
            columns = list(map(str, self.frame.columns))
            shown = ", ".join(columns[:12]) + (f" and {len(columns) - 12} more" if len(columns) > 12 else "")
            return f"ran: {rows}, columns {shown}"
        return f"{self.kind}: {self.problem}"


def _one_line(text: str) -> str:
    line = " ".join(str(text).split())
    return line if len(line) <= MAX_PROBLEM_CHARS else line[:MAX_PROBLEM_CHARS - 1] + "…"


#: Kusto's answers already asked for, by query text (a notebook re-runs the same cells).
_KUSTO_CACHE: dict[str, list[dict]] = {}


def kusto_errors(queries: list[str]) -> list[list[dict]] | None:
    """Kusto's error diagnostics per query (cached; one Node process for the new ones), or
    None when the parser is not available."""
    if not kusto_check.kusto_available():
        return None
    new = [q for q in dict.fromkeys(queries) if q not in _KUSTO_CACHE]
    if new:
        for query, errors in zip(new, kusto_check.analyse(new)["queries"]):
            _KUSTO_CACHE[query] = errors
    return [_KUSTO_CACHE[q] for q in queries]


def _kusto_problem(query: str, errors: list[dict]) -> tuple[str, str]:
    """The kind and one line for Kusto's first error: the earliest syntax error, else the earliest
    name or type error (a missing parenthesis also makes its expression mistyped)."""
    def semantic(error: dict) -> bool:
        return bool(_SEMANTIC.search(str(error.get("message", ""))))

    first = min(errors, key=lambda e: (semantic(e), e.get("start", 0), errors.index(e)))
    line, column = kusto_check.line_column(query, int(first.get("start", 0)))
    message = str(first.get("message", "")).strip()
    kind = "error" if semantic(first) else "syntax"
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return kind, _one_line(f"line {line}:{column}: {message}{more} [Kusto {first.get('code', '')}]")


def _engine_problem(exc: Exception) -> tuple[str, str]:
    """duckdb-kql's own reading of a failure: parse error, not implemented, or a runtime error."""
    import duckdb_kql

    message = str(exc).split("\n")[0]
    if isinstance(exc, duckdb_kql.KqlUnsupportedError):
        return "unsupported", message
    if isinstance(exc, duckdb_kql.KqlSyntaxError):
        return "syntax", message
    return "error", f"{type(exc).__name__}: {message}"


def run_kql(query: Any, data_dir: str | Path | None = None, max_rows: int = MAX_ROWS,
            check_with_kusto: bool = True, timeout: float = QUERY_SECONDS) -> KqlRun:
    """Run ``query`` on the data folder (the course's by default) and return a ``KqlRun``.

    Microsoft's Kusto parser, when available, decides whether a failing query is invalid KQL
    (``syntax``/``error``) or valid KQL the local engine cannot run (``unsupported``). It also
    reads queries that run here, since duckdb-kql accepts some text Kusto refuses. ``ago()`` and
    ``now()`` read the kit's clock (pinned in the course), not the machine's. A query still running
    after ``timeout`` seconds is stopped (a join without a key can multiply tables).
    """
    import duckdb_kql

    if not isinstance(query, str):
        return KqlRun(str(query), kind="error", problem=f"expected the query as text (a string), got "
                                                           f"{type(query).__name__}")
    text = query.strip()
    if not text:
        return KqlRun(query, kind="syntax", problem="the query is empty")
    errors = kusto_errors([text]) if check_with_kusto else None
    parser = "kusto" if errors is not None else "duckdb-kql"
    if errors and errors[0]:
        kind, problem = _kusto_problem(text, errors[0])
        return KqlRun(query, kind=kind, problem=problem, parser=parser)
    try:
        con = sandbox_connection(data_dir)
    except Exception as exc:  # noqa: BLE001 (a folder that cannot be loaded is one line too)
        return KqlRun(query, kind="error", parser=parser, problem=_one_line(f"the data could not be loaded: {exc}"))
    stopper = threading.Timer(timeout, con.interrupt)
    stopper.daemon = True
    stopper.start()
    try:
        relation = duckdb_kql.kql(con, text, allow_write=False, query_now=clock.now())
        frame = relation.limit(max_rows + 1).df()
    except Exception as exc:  # noqa: BLE001 (any failure of a trainee's query is one line, never a traceback)
        if type(exc).__name__ == "InterruptException":
            return KqlRun(query, kind="error", parser=parser, problem=(
                f"stopped after {timeout:g} s: the query runs too long on this data (a join without a "
                "selective key, or no filter before a join?)"))
        kind, problem = _engine_problem(exc)
        notes = []
        if parser == "kusto" and kind in ("syntax", "unsupported"):
            # Kusto found nothing wrong: valid KQL the local engine cannot run
            kind, problem = "unsupported", f"not supported by the local engine (duckdb-kql): {problem}"
        elif parser == "kusto":
            # Kusto checked its names and types against the same schema: what fails now is the
            # local engine's translation, not the trainee's KQL
            kind, problem = "unsupported", f"not supported by the local engine (duckdb-kql failed on it: {problem})"
        else:
            notes.append(f"Microsoft's Kusto parser was not available ({kusto_check.missing_reason()}); "
                         "duckdb-kql's own parser judged the query")
            if kind == "unsupported":
                problem = f"not supported by the local engine (duckdb-kql): {problem}"
        return KqlRun(query, kind=kind, problem=_one_line(problem), parser=parser, notes=notes)
    finally:
        stopper.cancel()
    truncated = len(frame) > max_rows
    return KqlRun(query, frame=frame.iloc[:max_rows], truncated=truncated, parser=parser)
