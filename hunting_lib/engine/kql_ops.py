"""KQL string operators over pandas Series, with Kusto's exact case rules.

The seed query mixes case-sensitive operators (``==``, ``!=``, ``in``) with case-insensitive
ones (``=~``, ``startswith``, ``!startswith``, and ``tolower()`` before ``in``). Getting one of
them wrong changes which tasks are rare, so each rule lives here once, named after its KQL
operator, and is tested against an independent KQL engine.

Everything works on the column's distinct values: a scheduled-task table repeats the same few
hundred command lines millions of times, so lowering and matching the uniques and mapping the
answer back by category code is far cheaper than lowering every row.
"""

from __future__ import annotations

from typing import Callable, Iterable

import numpy as np
import pandas as pd


def on_uniques(values: pd.Series, predicate: Callable[[pd.Index], np.ndarray]) -> np.ndarray:
    """Evaluate ``predicate`` once per distinct value and broadcast the answer to every row."""
    codes, uniques = pd.factorize(values, sort=False)
    if len(uniques) == 0:
        return np.zeros(len(values), dtype=bool)
    answer = np.asarray(predicate(pd.Index(uniques, dtype=object)), dtype=bool)
    # factorize marks missing values with -1; a Kusto string is never null, so they match
    # nothing here (the loader has already turned absent strings into "").
    return np.where(codes >= 0, answer[codes], False)


def kql_tolower(values: pd.Index | pd.Series) -> pd.Index | pd.Series:
    """``tolower()``: Unicode lower case."""
    return values.str.lower()


def equals_cs(values: pd.Series, literal: str) -> np.ndarray:
    """``col == "literal"``: exact and case-sensitive."""
    return (values == literal).to_numpy(dtype=bool, na_value=False)


def in_cs(values: pd.Series, literals: Iterable[str]) -> np.ndarray:
    """``col in ("a", "b")``: exact and case-sensitive membership."""
    return values.isin(list(literals)).to_numpy(dtype=bool)


def equals_ci(values: pd.Series, literal: str) -> np.ndarray:
    """``col =~ "literal"``: equal ignoring case."""
    wanted = literal.lower()
    return on_uniques(values, lambda u: kql_tolower(u) == wanted)


def in_ci(values: pd.Series, literals: Iterable[str]) -> np.ndarray:
    """``col in~ (...)``, and ``tolower(col) in (lowered set)``: membership ignoring case."""
    wanted = {str(v).lower() for v in literals}
    return on_uniques(values, lambda u: kql_tolower(u).isin(wanted))


def startswith_ci(values: pd.Series, prefix: str) -> np.ndarray:
    """``col startswith "prefix"``: prefix match ignoring case (``!startswith`` is its negation)."""
    wanted = prefix.lower()
    return on_uniques(values, lambda u: kql_tolower(u).str.startswith(wanted))


def make_set(frame: pd.DataFrame, group_col: str, value_col: str) -> pd.Series:
    """``make_set(value_col) by group_col``: the distinct values of each group, as lists.

    Kusto's ``make_set`` keeps the first occurrence of each distinct value, compared exactly
    (case-sensitively). Empty strings and nulls are left out: they are what ``union`` fills in
    for a column a table does not have, so they carry no evidence. A group with no values gets [].
    """
    values = frame[[group_col, value_col]]
    values = values[values[value_col].notna() & (values[value_col].astype(str) != "")]
    values = values.drop_duplicates()
    lists = values.groupby(group_col, sort=False)[value_col].agg(list)
    groups = pd.Index(frame[group_col].unique())
    return lists.reindex(groups).apply(lambda v: v if isinstance(v, list) else [])
