"""Run KQL over a data folder with duckdb_kql, an engine independent of the kit.

Tests use it as the reference: whatever the kit computes about the published hunt can be checked
against the published KQL text run here, unmodified.
"""

from __future__ import annotations

import duckdb_kql
import pandas as pd

# The loading lives in the library (the training course runs trainees' KQL the same way).
from hunting_lib.training.kql_sandbox import (  # noqa: F401 (this module's API)
    DUCKDB_TYPES,
    connect_frames,
    load_into_duckdb,
    read_defender_table,
)

_DUCKDB_TYPES = DUCKDB_TYPES


def run_kql(con, text: str) -> pd.DataFrame:
    """The result of a KQL query as a DataFrame."""
    return duckdb_kql.kql(con, text).df()


def rare_groups_query(seed_query: str) -> str:
    """The seed's first step alone: the body of ``materialize(...)`` up to ``count_ < 3``."""
    body = seed_query.split("materialize(", 1)[1]
    cut = body.index("| where count_ < 3") + len("| where count_ < 3")
    return body[:cut]
