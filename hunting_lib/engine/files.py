"""Finding a data folder's table files and naming their columns.

A table is one file named after it, or a folder of parts (``table_parts``): a folder named after
the table, or the container an export to storage writes it into. Kept apart from the loader, and
free of pandas, so that the parquet scan (``scan``) can start reading before pandas has finished
importing.
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
#: The format of each ending: a table folder holds parts of one format (gzip or not).
_FORMAT_OF = {".parquet": "parquet", ".csv.gz": "csv", ".csv": "csv", ".jsonl": "json lines",
              ".json": "json"}

#: The containers exports to storage write a table into (the table's name after the prefix,
#: compared case-insensitively):
#: - Defender XDR's streaming API: ``insights-logs-advancedhunting-<table>``, in lower case, with
#:   hourly ``PT1H.json`` blobs of JSON lines, each row wrapped in an envelope (``envelopes``);
#: - Log Analytics' data export: ``am-<Table>``, hourly ``PT1H.json`` JSON lines, each line one
#:   row with its columns at the top level (``TimeGenerated``, ``TenantId``, ``Type`` and, for
#:   the Device* tables, the Defender ``Timestamp`` the hunt reads).
EXPORT_CONTAINER_PREFIXES: tuple[str, ...] = ("insights-logs-advancedhunting-", "am-")

# Log Analytics writes "Timestamp [UTC]"; union exports of several tables write "ReportId_long".
_UTC_SUFFIX = re.compile(r"\s*\[UTC\]$", re.IGNORECASE)
_TYPE_SUFFIX = re.compile(r"_(string|long|int|real|datetime|bool|dynamic|guid|timespan|decimal)$")


def _suffix_of(name: str) -> str | None:
    lowered = name.lower()
    return next((s for s in SUPPORTED_SUFFIXES if lowered.endswith(s)), None)


def _table_folders(data_dir: Path, table: str, names: list[str]) -> list[str]:
    """The sub-folders of ``data_dir`` that hold ``table``: its name, or an export container."""
    lowered = table.lower()
    found = []
    for name in names:
        if name == table or any(name.lower() == prefix + lowered for prefix in EXPORT_CONTAINER_PREFIXES):
            if (data_dir / name).is_dir():
                found.append(name)
    return found


def part_format(path: Path) -> str | None:
    """The one format of a table's parts ("parquet", "csv", "json lines", "json"), or None for
    an empty folder. Raises on a part of another format, a refused one or an unknown one."""
    parts = table_parts(path)
    formats: dict[str, Path] = {}
    for part in parts:
        suffix = _suffix_of(part.name)
        if suffix is None:
            refused = any(part.name.lower().endswith(s) for s in REFUSED_SUFFIXES)
            why = "pickle files are refused, because loading one runs code" if refused else (
                "not a table file (.parquet, .csv, .csv.gz, .jsonl or .json)")
            raise BadInputError(f"{part}: {why}; a table folder holds only its parts")
        formats.setdefault(_FORMAT_OF[suffix], part)
    if len(formats) > 1:
        (first, one), (second, other) = list(formats.items())[:2]
        raise BadInputError(f"{path}: the table folder mixes {first} ({one.name}) and {second} ({other.name}) "
                            "parts; keep one format")
    return next(iter(formats), None)


def find_table_files(data_dir: Path) -> dict[str, Path]:
    """Map each table to its file or folder in ``data_dir``; raise on ambiguity or refused formats.

    An empty table folder is left out (the table counts as absent); a folder whose parts mix
    formats, or a table that is both a file and a folder, is refused.
    """
    if not data_dir.exists():
        raise BadInputError(f"{data_dir}: no such data folder")
    if not data_dir.is_dir():
        raise BadInputError(f"{data_dir}: not a folder")
    names = sorted(p.name for p in data_dir.iterdir())
    found: dict[str, Path] = {}
    for table in TABLES:
        candidates = [n for n in names for s in SUPPORTED_SUFFIXES if n == table + s]
        refused = [n for n in names for s in REFUSED_SUFFIXES if n == table + s]
        folders = _table_folders(data_dir, table, names)
        if len(candidates) > 1:
            raise BadInputError(
                f"{data_dir}: {table} has several files ({', '.join(candidates)}); keep one"
            )
        if len(folders) > 1:
            raise BadInputError(f"{data_dir}: {table} has several folders ({', '.join(folders)}); keep one")
        if candidates and folders:
            raise BadInputError(f"{data_dir}: {table} is both a file ({candidates[0]}) and a folder "
                                f"({folders[0]}); keep one")
        if candidates:
            found[table] = data_dir / candidates[0]
        elif folders:
            if part_format(data_dir / folders[0]) is not None:  # an empty folder: the table is absent
                found[table] = data_dir / folders[0]
        elif refused:
            raise BadInputError(
                f"{data_dir / refused[0]}: pickle files are refused, because loading one runs "
                "code; export the table as csv, parquet or json"
            )
    return found


def suggest_file(table: str, data_dir: Path) -> str:
    """A hint for a missing table: a file whose name is close to the table's."""
    stems = {p.name.split(".")[0]: p.name for p in data_dir.iterdir()}
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
    file in it at any depth (parts, hive partitions, export time folders), in name order.
    Hidden and bookkeeping files (``.part.crc``, ``_SUCCESS``) and folders are skipped."""
    if path.is_dir():
        return sorted(p for p in path.rglob("*") if p.is_file()
                      and not any(n.startswith((".", "_")) for n in p.relative_to(path).parts))
    return [path]


def parquet_parts(path: Path) -> list[Path] | None:
    """The parquet files of one table (file or folder), or None when the table is not parquet."""
    parts = table_parts(path)
    if parts and all(p.name.lower().endswith(".parquet") for p in parts):
        return parts
    return None
