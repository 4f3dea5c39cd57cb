"""The published hunting query, read from ``queries/rare_sch_task_with_activity.yaml``.

That YAML file is the only copy of the KQL text in the kit. The local engine takes its literals
(the parent process, the excluded scanner, the System32 prefix, the four shells, the threshold)
from the query itself, so the two can never drift apart: change the query and the engine follows;
break its shape and loading fails loudly instead of hunting with stale values.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from hunting_lib.schema import load_yaml

SEED_QUERY_FILE = "queries/rare_sch_task_with_activity.yaml"


@dataclass(frozen=True)
class SeedLiterals:
    """The constants the seed query filters on, exactly as the query spells them."""

    parent_file_name: str
    parent_command_line: str
    excluded_file_name: str
    system_folder_prefix: str
    shells: tuple[str, ...]
    threshold: int


@lru_cache(maxsize=1)
def seed_query() -> dict:
    """The seed hunting query as a dict (id, name, description, ..., query)."""
    text = resources.files("hunting_lib").joinpath(SEED_QUERY_FILE).read_text("utf-8")
    return load_yaml(text)


def seed_kql() -> str:
    """The published KQL text, unmodified."""
    return seed_query()["query"]


def _one(pattern: str, text: str, what: str) -> str:
    found = re.findall(pattern, text)
    if len(found) != 1:
        raise ValueError(f"{SEED_QUERY_FILE}: expected one {what} in the query, found {len(found)}")
    return found[0]


@lru_cache(maxsize=1)
def seed_literals() -> SeedLiterals:
    """Read the filter constants out of the seed KQL."""
    kql = seed_kql()
    verbatim = r'@"([^"]*)"'
    return SeedLiterals(
        parent_file_name=_one(r"InitiatingProcessFileName == " + verbatim, kql, "parent file name"),
        parent_command_line=_one(
            r"InitiatingProcessCommandLine == " + verbatim, kql, "parent command line"
        ),
        excluded_file_name=_one(r"FileName != " + verbatim, kql, "excluded file name"),
        system_folder_prefix=_one(r"FolderPath !startswith " + verbatim, kql, "folder prefix"),
        shells=tuple(re.findall(r'FileName =~ "([^"]*)"', kql)),
        threshold=int(_one(r"count_ < (\d+)", kql, "threshold")),
    )
