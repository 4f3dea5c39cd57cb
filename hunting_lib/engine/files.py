"""Finding a data folder's table files and naming their columns.

Kept apart from the loader, and free of pandas, so that the parquet scan (``scan``) can start
reading before pandas has finished importing.
"""

from __future__ import annotations

import difflib
import re
from pathlib import Path

from hunting_lib.errors import BadInputError
from hunting_lib.schema import TABLES, column_type

#: File endings the loader reads, in the order it prefers them.
SUPPORTED_SUFFIXES: tuple[str, ...] = (".parquet", ".csv.gz", ".csv", ".jsonl", ".json")
#: Endings it recognises and refuses: unpickling runs arbitrary code.
REFUSED_SUFFIXES: tuple[str, ...] = (".pkl", ".pickle", ".pkl.gz")

# Log Analytics writes "Timestamp [UTC]"; union exports of several tables write "ReportId_long".
_UTC_SUFFIX = re.compile(r"\s*\[UTC\]$", re.IGNORECASE)
_TYPE_SUFFIX = re.compile(r"_(string|long|int|real|datetime|bool|dynamic|guid|timespan|decimal)$")


def find_table_files(data_dir: Path) -> dict[str, Path]:
    """Map each table to its file in ``data_dir``; raise on ambiguity or refused formats."""
    if not data_dir.exists():
        raise BadInputError(f"{data_dir}: no such data folder")
    if not data_dir.is_dir():
        raise BadInputError(f"{data_dir}: not a folder")
    names = sorted(p.name for p in data_dir.iterdir())
    found: dict[str, Path] = {}
    for table in TABLES:
        candidates = [n for n in names for s in SUPPORTED_SUFFIXES if n == table + s]
        refused = [n for n in names for s in REFUSED_SUFFIXES if n == table + s]
        if len(candidates) > 1:
            raise BadInputError(
                f"{data_dir}: {table} has several files ({', '.join(candidates)}); keep one"
            )
        if candidates:
            found[table] = data_dir / candidates[0]
        elif refused:
            raise BadInputError(
                f"{data_dir / refused[0]}: pickle files are refused, because loading one runs "
                "code; export the table as csv, parquet or json"
            )
    return found


def suggest_file(table: str, data_dir: Path) -> str:
    """A hint for a missing table: a file whose name is close to the table's."""
    stems = {p.name.split(".")[0]: p.name for p in data_dir.iterdir() if p.is_file()}
    close = difflib.get_close_matches(table, [s for s in stems if s not in TABLES], n=1, cutoff=0.8)
    return f"; did you mean {stems[close[0]]}?" if close else ""


def normalise_column_name(raw: str, table: str) -> str:
    """The schema name for an exported column name (``Timestamp [UTC]`` -> ``Timestamp``)."""
    name = _UTC_SUFFIX.sub("", str(raw).strip().lstrip("\ufeff"))
    base = _TYPE_SUFFIX.sub("", name)
    if base != name and column_type(table, base) is not None:
        return base
    return name


def table_parts(path: Path) -> list[Path]:
    """The files that hold one table: the file itself, or for a table kept as a folder every
    file in it at any depth (parts, hive partitions, export time folders), in name order."""
    if path.is_dir():
        return sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith((".", "_")))
    return [path]


def parquet_parts(path: Path) -> list[Path] | None:
    """The parquet files of one table (file or folder), or None when the table is not parquet."""
    parts = table_parts(path)
    if parts and all(p.name.lower().endswith(".parquet") for p in parts):
        return parts
    return None
