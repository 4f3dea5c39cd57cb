"""Where the kit's KQL operators meet Kusto's documented semantics, and where they knowingly do not.

docs/kql_semantics.md is the prose; each decision there is pinned here, so that a change of
behaviour, of the oracle (duckdb-kql) or of Python's Unicode data shows up as a failing test.

1. ``make_set`` and "". Kusto's ``make_set`` ignores null values only, and its ``string`` type has
   no null (``isnull("")`` is false), so Kusto keeps "" in a set. The kit's ``make_set`` leaves ""
   out, by design. duckdb-kql keeps an explicit "" as Kusto does, but fills the columns ``union``
   adds with NULL where Kusto has "".
2. Lower case. Kusto runs on .NET, whose ``ToLowerInvariant`` maps every code point through
   Unicode's *simple* lowercase mapping, except U+0130 (kept, as Windows' invariant culture keeps
   it). Python's ``str.lower`` uses the *full* mapping with the Final_Sigma context. The kit lowers
   with ``str.lower``, which differs from .NET on U+0130 and on a word-final capital sigma only.
   duckdb-kql's ``tolower`` is the plain simple mapping: it differs from .NET on U+0130 only.
"""

from __future__ import annotations

import itertools
import json

import pandas as pd
import pytest

from hunting_lib.engine.kql_ops import (
    equals_ci,
    in_ci,
    kql_tolower,
    make_set,
    startswith_ci,
)
from hunting_lib.remote.kql_literals import kql_string
from tests.conftest import oracle

DOTTED_I = "\u0130"  # LATIN CAPITAL LETTER I WITH DOT ABOVE
KELVIN = "\u212a"  # KELVIN SIGN: its lowercase is ASCII "k"


# --------------------------------------------------------------------------------------------
# The expectation: .NET's ToLowerInvariant, built from Unicode's data


def simple_lower(ch: str) -> str:
    """Unicode's simple lowercase mapping (UnicodeData.txt field 13) of one code point.

    Python has no direct accessor for it. ``str.lower`` of a lone code point gives the full
    mapping, and the full mapping equals the simple one for every code point but U+0130, the only
    unconditional one-to-many lowercase mapping in SpecialCasing.txt (checked below over all of
    Unicode); Final_Sigma needs a cased letter before the sigma, so a lone U+03A3 maps simply.
    U+0130's simple mapping is U+0069.
    """
    return "i" if ch == DOTTED_I else ch.lower()


def dotnet_lower_invariant(text: str) -> str:
    """``text.ToLowerInvariant()`` on .NET: the simple mapping per code point (ICU's u_tolower),
    except that U+0130 stays U+0130 to match Windows' invariant culture. See dotnet/runtime,
    src/native/libs/System.Globalization.Native/pal_casing.c, GlobalizationNative_ChangeCaseInvariant."""
    return "".join(ch if ch == DOTTED_I else simple_lower(ch) for ch in text)


def every_code_point() -> list[str]:
    return [chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF]


def test_the_full_and_simple_mappings_differ_on_one_lone_code_point():
    """The premise of ``simple_lower``, checked on this Python's Unicode data."""
    assert [hex(ord(ch)) for ch in every_code_point() if len(ch.lower()) != 1] == ["0x130"]
    assert DOTTED_I.lower() == "i\u0307"


@pytest.mark.parametrize("text, expected", [
    ("CMD.EXE", "cmd.exe"),
    (DOTTED_I, DOTTED_I),  # .NET keeps it; simple mapping alone would give "i", full mapping "i\u0307"
    ("\u0131", "\u0131"),  # dotless i is already lower case
    ("I", "i"),  # no Turkish rule in the invariant culture
    ("\u00df", "\u00df"),  # sharp s has no lowercase mapping (only a full uppercase "SS")
    ("\u1e9e", "\u00df"),  # capital sharp s
    ("\u03a3", "\u03c3"),  # capital sigma
    ("\u039f\u0394\u03a5\u03a3\u03a3\u0395\u03a5\u03a3", "\u03bf\u03b4\u03c5\u03c3\u03c3\u03b5\u03c5\u03c3"),  # no final form
    ("\u03c2", "\u03c2"),  # final sigma stays final sigma
    ("\u01c4\u01c5\u01c6", "\u01c6\u01c6\u01c6"),  # DŽ, titlecase Dž, dž
    ("\u13a0\u13f5", "\uab70\u13fd"),  # Cherokee capitals lower to the Unicode 8 small letters
    (KELVIN, "k"),
    ("\u212b", "\u00e5"),  # ANGSTROM SIGN
    ("\U00010400", "\U00010428"),  # Deseret, outside the BMP
    ("C:\\WINDOWS\\SYSTEM32\\\u00c9VIL.EXE", "c:\\windows\\system32\\\u00e9vil.exe"),
])
def test_the_model_of_dotnet_lower_invariant(text, expected):
    assert dotnet_lower_invariant(text) == expected


# --------------------------------------------------------------------------------------------
# The kit against it


def test_kql_tolower_matches_dotnet_on_every_lone_code_point_but_u0130():
    chars = pd.Series(every_code_point(), dtype=object)
    lowered = kql_tolower(chars)
    differ = [(hex(ord(ch)), got) for ch, got in zip(chars, lowered) if got != dotnet_lower_invariant(ch)]
    assert differ == [("0x130", "i\u0307")]


#: Strings around the two differences, and non-ASCII ones on which the kit and .NET agree; True
#: marks the ones whose lowering differs (U+0130, or a capital sigma after a cased letter and
#: before no cased letter: Python's Final_Sigma context).
WORDS = {
    "\u00c9VIL.EXE": False, "\u00e9vil.exe": False, "STRA\u1e9eE": False, "stra\u00dfe": False, "STRASSE": False,
    "\u01c4": False, "\u01c5": False, "\u01c6": False, "\u13a0\u13a1": False, "\uab70\uab71": False,
    "TAS" + KELVIN + "ENG.EXE": False, "taskeng.exe": False, "\U00010400": False, "\U00010428": False,
    DOTTED_I + "NDIR.EXE": True, "indir.exe": False, "i\u0307ndir.exe": False, "\u0131ndir.exe": False,
    "\u039f\u0394\u03a5\u03a3\u03a3\u0395\u03a5\u03a3": True,  # ends in a capital sigma
    "\u03bf\u03b4\u03c5\u03c3\u03c3\u03b5\u03c5\u03c3": False, "\u03bf\u03b4\u03c5\u03c3\u03c3\u03b5\u03c5\u03c2": False,
    "\u03a3\u03a3 x": True,  # the second sigma ends a word
    "\u03a3\u03c3 x": False, "\u03a3\u03c2 x": False, "\u03a3x": False,  # no cased letter before the capital
}


def kit_lower(text: str) -> str:
    return kql_tolower(pd.Series([text], dtype=object)).iloc[0]


def test_tolower_differs_from_dotnet_only_where_documented():
    assert {w: kit_lower(w) != dotnet_lower_invariant(w) for w in WORDS} == WORDS
    # the two cases, as the doc states them
    assert kit_lower(DOTTED_I + "NDIR.EXE") == "i\u0307ndir.exe"  # .NET: "\u0130ndir.exe"
    assert kit_lower("\u03a3\u03a3 x") == "\u03c3\u03c2 x"  # .NET: "\u03c3\u03c3 x"


def dotnet_equals_ci(value: str, literal: str) -> bool:
    return dotnet_lower_invariant(value) == dotnet_lower_invariant(literal)


def test_equals_in_and_startswith_ci_follow_dotnet_lowering_except_where_documented():
    """``=~``, ``in~`` / ``tolower() in`` and ``startswith`` compare the lowered texts; over every
    pair of WORDS they agree with the same comparison under .NET's lowering, except on pairs that
    hold one of the two documented characters."""
    values = pd.Series(list(WORDS), dtype=object)
    disagree = []
    for literal in WORDS:
        eq = equals_ci(values, literal)
        member = in_ci(values, [literal])
        prefix = startswith_ci(values, literal[:3])
        for value, got_eq, got_in, got_prefix in zip(WORDS, eq, member, prefix):
            want_eq = dotnet_equals_ci(value, literal)
            want_prefix = dotnet_lower_invariant(value).startswith(dotnet_lower_invariant(literal[:3]))
            assert got_eq == got_in  # one rule for both operators
            if (got_eq, got_prefix) != (want_eq, want_prefix):
                disagree.append((value, literal))
    assert disagree, "the documented differences no longer show: update docs/kql_semantics.md"
    assert all(WORDS[v] or WORDS[lit] for v, lit in disagree), disagree
    # non-ASCII case variants the kit does treat as equal, as .NET's lowering does
    assert equals_ci(pd.Series(["\u00c9VIL.EXE", "STRA\u1e9eE", "\u01c4", "\u13a0\u13a1"]), "\u00e9vil.exe").tolist() == [
        True, False, False, False]
    assert in_ci(pd.Series(["STRA\u1e9eE", "\u01c5", "\u13a0\u13a1", "TAS" + KELVIN + "ENG.EXE"]),
                 ["stra\u00dfe", "\u01c6", "\uab70\uab71", "taskeng.exe"]).tolist() == [True, True, True, True]


def test_where_unicode_lowering_and_an_ascii_only_fold_part():
    """Kusto documents its case-insensitive operators (``=~``, ``in~``, ``startswith``) as supported
    for ASCII text only. Against an ASCII literal, as every literal of the seed is, lowering the
    value can only make a difference through a non-ASCII character whose lowercase holds an ASCII
    one. There are two: the Kelvin sign and U+0130 (through its full mapping "i\\u0307")."""
    chars = pd.Series([ch for ch in every_code_point() if not ch.isascii()], dtype=object)
    ascii_out = [hex(ord(ch)) for ch, low in zip(chars, kql_tolower(chars)) if any(c.isascii() for c in low)]
    assert ascii_out == ["0x130", "0x212a"]
    # so the kit matches these where an ASCII-only fold would not
    assert equals_ci(pd.Series(["TAS" + KELVIN + "ENG.EXE"]), "taskeng.exe").tolist() == [True]
    assert startswith_ci(pd.Series([DOTTED_I + "x"]), "i").tolist() == [True]
    # and no literal of the published query holds a "k", nor ends in "i"
    from hunting_lib.engine.query import seed_literals

    literals = seed_literals()
    texts = [literals.system_folder_prefix, *literals.shells]
    assert texts and not any("k" in t.lower() or t.lower().endswith("i") for t in texts)


# --------------------------------------------------------------------------------------------
# make_set and ""


def test_make_set_leaves_the_empty_string_out_by_design():
    """Kusto keeps "" (it is no null); the kit does not. The case: a set that would hold ""."""
    frame = pd.DataFrame({"g": [1, 1, 1, 1, 1, 2, 2, 3],
                          "v": ["", "a", "", "A", "a", "", None, "b"]})
    sets = make_set(frame, "g", "v")
    assert sets.to_dict() == {1: ["a", "A"], 2: [], 3: ["b"]}
    kusto = {1: {"", "a", "A"}, 2: {""}, 3: {"b"}}  # make_set ignores nulls only (documented)
    assert {g: set(v) for g, v in sets.items()} == {g: values - {""} for g, values in kusto.items()}


def test_duckdb_kql_keeps_the_empty_string_as_kusto_does():
    """The oracle keeps an explicit "" in make_set, like Kusto, so the parity tests take "" out of
    the oracle's sets (and only "") before comparing; the kit's sets are compared as they are."""
    duckdb_kql = oracle("duckdb_kql", "duckdb-kql needs Python 3.11+")
    con = duckdb_kql.connect()
    frame = duckdb_kql.kql(con, 'datatable(g:long, v:string)[1, "", 1, "a", 1, "", 1, "A", 2, ""]'
                                "| summarize S = make_set(v) by g | order by g asc").df()
    got = [sorted(json.loads(s) if isinstance(s, str) else list(s)) for s in frame["S"]]
    assert got == [["", "A", "a"], [""]]


def test_duckdb_kql_fills_union_gaps_with_null_where_kusto_has_the_empty_string():
    """Kusto's string has no null: a string column that one side of a ``union`` lacks is "" there
    (``isempty`` true, ``isnull`` false). duckdb-kql fills NULL, which its make_set then drops. The
    kit fills "" as Kusto does and then drops it (above), so the two agree on the sets anyway."""
    duckdb_kql = oracle("duckdb_kql", "duckdb-kql needs Python 3.11+")
    con = duckdb_kql.connect()
    con.execute("CREATE TABLE A (g BIGINT, s VARCHAR)")
    con.execute("INSERT INTO A VALUES (1, 'x')")
    con.execute("CREATE TABLE B (g BIGINT, t VARCHAR)")
    con.execute("INSERT INTO B VALUES (1, 'y')")
    rows = duckdb_kql.kql(con, "union A, B | extend n = isnull(t), e = isempty(t) | where s == 'x'").df()
    assert rows[["n", "e"]].values.tolist() == [[True, True]]  # Kusto: [False, True]
    sets = duckdb_kql.kql(con, "union A, B | summarize T = make_set(t)").df()["T"].iloc[0]
    assert (json.loads(sets) if isinstance(sets, str) else list(sets)) == ["y"]  # Kusto: ["y", ""]

    from hunting_lib.engine.loader import empty_column

    assert empty_column("DeviceProcessEvents", "RemoteIP", 2).tolist() == ["", ""]  # the kit's union fill


# --------------------------------------------------------------------------------------------
# duckdb-kql's lower case, for the fuzz alphabets


FUZZ_SAFE = ["\u00c9", "\u00e9", "\u1e9e", "\u00df", "\u01c4", "\u01c5", "\u01c6", "\u13a0", "\uab70", KELVIN,
             "\u017f", "\u00dc", "\u00fc", "\u0131", "\U00010400", "\U00010428"]


def test_duckdb_kql_lowers_as_dotnet_but_for_u0130():
    """duckdb-kql's ``tolower``, ``=~`` and ``startswith`` follow the simple mapping: the same as
    .NET's invariant lowering everywhere but U+0130, which it lowers to "i". The fuzz parity test
    therefore draws non-ASCII text only from characters where the kit, .NET and duckdb-kql agree
    (FUZZ_SAFE, checked here), never U+0130 nor a word-final capital sigma."""
    duckdb_kql = oracle("duckdb_kql", "duckdb-kql needs Python 3.11+")
    con = duckdb_kql.connect()
    texts = FUZZ_SAFE + [DOTTED_I, "\u03a3", "\u0391\u03a3 x"]
    columns = ", ".join(f"l{i} = tolower({kql_string(t)})" for i, t in enumerate(texts))
    row = duckdb_kql.kql(con, f"print {columns}").df().iloc[0]
    lowered = dict(zip(texts, (row[f"l{i}"] for i in range(len(texts)))))
    assert {t: v for t, v in lowered.items() if v != dotnet_lower_invariant(t)} == {DOTTED_I: "i"}
    assert all(kit_lower(t) == dotnet_lower_invariant(t) for t in FUZZ_SAFE)
    pairs = list(itertools.product(FUZZ_SAFE, repeat=2))
    columns = ", ".join(f"e{i} = {kql_string(a)} =~ {kql_string(b)}, s{i} = {kql_string(a + 'x')} startswith "
                        f"{kql_string(b)}" for i, (a, b) in enumerate(pairs))
    row = duckdb_kql.kql(con, f"print {columns}").df().iloc[0]
    for i, (a, b) in enumerate(pairs):
        want = dotnet_lower_invariant(a) == dotnet_lower_invariant(b)
        assert bool(row[f"e{i}"]) == want == bool(equals_ci(pd.Series([a]), b)[0]), (a, b)
        assert bool(row[f"s{i}"]) == want == bool(startswith_ci(pd.Series([a + "x"]), b)[0]), (a, b)
