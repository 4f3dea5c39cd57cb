"""The seven Defender XDR tables the hunt reads: their columns and Defender types.

The column lists live in ``config/device_tables.yaml`` so that they can be reviewed (and reused by
the KQL checks) without reading code. This module only loads that file and answers questions
about it.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from typing import Mapping

import yaml

#: libyaml's parser where PyYAML was built with it: 3-4 times faster, and every hunt reads its
#: schema, query and scoring files.
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_yaml(text: str):
    """``yaml.safe_load`` (the same safe subset), with the C parser when there is one."""
    return yaml.load(text, Loader=_YAML_LOADER)  # noqa: S506 (a safe loader)

#: The seven tables of the seed query's ``union``, in the seed's order.
TABLES: tuple[str, ...] = (
    "DeviceProcessEvents",
    "DeviceNetworkEvents",
    "DeviceFileEvents",
    "DeviceRegistryEvents",
    "DeviceLogonEvents",
    "DeviceImageLoadEvents",
    "DeviceEvents",
)

PROCESS_TABLE = "DeviceProcessEvents"

#: Defender types and the pandas dtype each is held in. Strings stay ``object`` with "" for
#: missing values, because a Kusto string is never null: an absent value compares as "".
PANDAS_DTYPES: Mapping[str, str] = {
    "string": "object",
    "dynamic": "object",
    "long": "Int64",
    "int": "Int64",
    "datetime": "datetime64[ns, UTC]",
    "bool": "boolean",
}


@lru_cache(maxsize=1)
def _spec() -> dict:
    text = resources.files("hunting_lib").joinpath("config/device_tables.yaml").read_text("utf-8")
    return load_yaml(text)


def table_columns(table: str) -> dict[str, str]:
    """Every known column of ``table`` mapped to its Defender type, in schema order."""
    return dict(_spec()["tables"][table]["columns"])


def required_columns(table: str) -> list[str]:
    """The columns a file of ``table`` must have for the hunt to read it."""
    return list(_spec()["tables"][table]["required"])


def column_type(table: str, column: str) -> str | None:
    """The Defender type of ``column`` in ``table``, or None for a column the schema does not know."""
    return _spec()["tables"][table]["columns"].get(column)


@lru_cache(maxsize=None)
def any_column_type(column: str) -> str | None:
    """The Defender type of ``column`` in whichever of the seven tables has it (types agree)."""
    for table in TABLES:
        kind = column_type(table, column)
        if kind is not None:
            return kind
    return None
