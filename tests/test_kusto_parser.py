"""Microsoft's Kusto parser checks every query the kit renders, and every literal it builds.

duckdb-kql (tests/test_kql.py) proves the rendered queries *mean* the right thing, but it is a
different engine and accepts things Kusto rejects. Here Kusto.Language itself, the parser behind
the Sentinel, Defender and ADX query editors, parses and analyses each query against the seven
tables with their Defender types, so a misspelt column, a type error or a syntax slip fails a test
instead of failing in front of an analyst. That covers every msticpy template a remote hunt can
send: the list is ``provider._renderers()`` itself, rendered with hostile data values for both
scopes and the three dialects, so a template added later cannot be missed.

The second half is about hostile text. Command lines, paths and file names are attacker
controlled and reach the queries as literals (exclusion values, parent command lines). For more
than a thousand generated hostile strings, Kusto's own lexer must see ``kql_string(v)`` as one
string literal that decodes back to ``v``, and a query carrying ``v`` must have exactly the token
structure of the same query carrying a harmless value.

Node and ``npm ci --prefix tests/kusto`` (done by ``make test``) are needed; without them these
tests fail under CI=true and skip locally (see tests/kusto_parser.py).
"""

from __future__ import annotations

import datetime as dt
import os
import random
import re
import subprocess
import sys
from itertools import product

import pandas as pd
import pytest
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

from hunting_lib.engine.query import seed_kql
from hunting_lib.params import HuntParams
from hunting_lib.remote.kql import kql_datetime, kql_string, render_hunt_kql, render_rare_tasks_kql
from hunting_lib.triage.exclusions import Condition, ExclusionRule, load_exclusions, parse_exclusions
from tests import kusto_parser
from tests.conftest import REPO, SCHEDULE, oracle

TODAY = dt.date(2026, 11, 1)  # every shipped rule is in force on this day
HARMLESS = "harmlessvalue"  # needs no escaping, in KQL or in a regex

# Generated hostile values: >= 1,000 (the brief for CI). A seed makes a failing run repeatable.
HOSTILE_EXAMPLES = int(os.environ.get("KUSTO_HOSTILE_EXAMPLES", "1000"))
HOSTILE_SEED = int(os.environ.get("KUSTO_HOSTILE_SEED", str(random.randrange(2**32))))
MIN_HOSTILE = 1000 if kusto_parser.in_ci() else min(1000, HOSTILE_EXAMPLES)
PER_RULE = 10  # hostile values per rendered rule query


@pytest.fixture(scope="module")
def kusto():
    """Fails under CI, skips locally, when node or the npm package is missing."""
    kusto_parser.require_kusto()


def excerpt(query: str, error: dict, width: int = 60) -> str:
    start = error["start"]
    return repr(query[max(0, start - width):start + error["length"] + width])


def shown(value: str, limit: int = 120) -> str:
    """A value for a failure message: repr, shortened, with its length."""
    text = repr(value)
    return (text if len(text) <= limit else text[:limit] + "...") + f" (len {len(value)})"


# --------------------------------------------------------------------------------------------
# Every query the kit renders


THRESHOLDS = range(1, 6)
WINDOW = {"start": "2026-11-01T00:00:00Z", "end": "2026-11-08T23:59:59.9999999Z"}
MAX_DEVICES = (None, 2)
# the seed's, a case variant, and one full of KQL syntax
EXTRA_PARENTS = (SCHEDULE, SCHEDULE.lower(), 'svchost.exe -k "netsvcs" -p -s Schedule | take 1 // ;\\')
EVERY_OPERATOR = r'''
rules:
  - id: ops-insensitive
    description: d
    reason: r
    owner: o
    expires: 2099-12-31
    when:
      FileName: {equals: [a.exe, 'b "c".exe']}
      ProcessCommandLine: {contains: ['x | y', "it's"], startswith: 'C:\Temp\', endswith: '\'}
      FolderPath: {regex: ['^C:\\Users\\[^\\]+\\AppData\\', '\.ps1$']}
  - id: ops-sensitive
    description: d
    reason: r
    owner: o
    expires: 2099-12-31
    case_sensitive: true
    when:
      AccountName: {equals: SYSTEM, endswith: '$'}
      ProcessCommandLine: {contains: '"""', startswith: '@"', regex: '(?:let|union) \w+'}
'''
DIALECTS = ("defender", "sentinel", "adx")


def rendered_queries() -> dict[str, list[str]]:
    """Every query of the matrix, keyed by text, with the labels that rendered it.

    The grid: thresholds 1-5, with and without a window, with and without max_devices, the
    seed's parent or extra ones; the hunt part for each dialect, the rare_tasks part for each
    dialect with the shipped exclusions and with none. Beyond the grid: one-sided windows and a
    rules file that uses every operator, case-sensitive and not, with several values. Texts that
    coincide (ADX and Defender differ only in renamed tables; without a window all three dialects
    are the same text) are analysed once.
    """
    shipped, none, every = load_exclusions(today=TODAY), load_exclusions("none"), parse_exclusions(EVERY_OPERATOR)
    assert shipped, "the shipped exclusions file has no rule in force"
    jobs: list[tuple[str, HuntParams, list | None]] = []  # (label, params, rules or None for the hunt part)
    for threshold, window, max_devices, parents in product(THRESHOLDS, (False, True), MAX_DEVICES, (False, True)):
        params = HuntParams(threshold=threshold, max_devices=max_devices, **(WINDOW if window else {}),
                            **({"parent_command_lines": EXTRA_PARENTS} if parents else {}))
        label = (f"threshold {threshold}, {'window' if window else 'no window'}, max_devices {max_devices}, "
                 f"{'extra parents' if parents else 'seed parent'}")
        jobs += [(label, params, None), (label + ", shipped exclusions", params, shipped),
                 (label + ", no exclusions", params, none)]
    for name, times in {"start only": {"start": "2026-11-01T06:30:00+02:00"}, "end only": {"end": "2026-11-08"},
                        "window": WINDOW, "no window": {}}.items():
        params = HuntParams(max_devices=3, parent_command_lines=EXTRA_PARENTS, **times)
        jobs += [(f"{name}", params, None), (f"{name}, shipped exclusions", params, shipped),
                 (f"{name}, every operator", params, every)]

    queries: dict[str, list[str]] = {seed_kql(): ["the published seed query"]}
    for (label, params, rules), target in product(jobs, DIALECTS):
        if rules is None:
            queries.setdefault(render_hunt_kql(params, target=target), []).append(f"hunt/{target}: {label}")
        else:
            text = render_rare_tasks_kql(params, rules, target=target)
            queries.setdefault(text, []).append(f"rare_tasks/{target}: {label}")
    return queries


@pytest.fixture(scope="module")
def matrix() -> dict[str, list[str]]:
    return rendered_queries()


def test_every_rendered_query_parses_and_analyses_without_errors(matrix, answers):
    queries, results = matrix, answers["matrix"]["queries"]
    failures = [f"{labels[0]} (+{len(labels) - 1} more): "
                + "; ".join(f"{e['code']} {e['message']} at {excerpt(text, e)}" for e in errors[:3])
                for (text, labels), errors in zip(queries.items(), results) if errors]
    assert not failures, f"{len(failures)} of {len(queries)} queries have Kusto errors:\n" + "\n".join(failures[:10])


def test_the_cli_prints_a_query_kusto_accepts(kusto):
    """One end-to-end spot check: the command prints what the API renders, and it analyses."""
    args = ["--dialect", "sentinel", "--part", "rare_tasks", "--start", "2026-11-01", "--end", "2026-11-08",
            "--threshold", "4", "--max-devices", "2"]
    done = subprocess.run([sys.executable, "-m", "hunting_lib", "kql", *args], capture_output=True, text=True,
                          cwd=REPO, timeout=120)
    assert done.returncode == 0, done.stderr
    expected = render_rare_tasks_kql(HuntParams(start="2026-11-01", end="2026-11-08", threshold=4, max_devices=2),
                                     load_exclusions(), target="sentinel")
    assert done.stdout == expected + "\n"
    assert "TimeGenerated between" in done.stdout
    assert kusto_parser.check_queries([done.stdout]) == [[]]


CONTROLS = [
    "DeviceProcessEvents | where ProcessCommandLine has 'x' | project Timestamp, FileName",
    "DeviceProcessEvents | where ProcessComandLine has 'x'",
    "DeviceProcessEvents | project RemoteIP",
    "DeviceProcessEvents | where Timestamp > 5",
    "DeviceLogonEvents | where TimeGenerated > ago(1d) | project Type, TenantId, RemotePort + 1",
]


def test_the_checks_catch_what_they_are_meant_to_catch(answers):
    """Negative controls: a wrong column, a column of another table, a type error and a naively
    quoted hostile value are all reported, so a clean result above means something."""
    clean, typo, other_table, type_error, sentinel = answers["controls"]["queries"]
    assert clean == [] and sentinel == []
    assert [e["code"] for e in typo] == ["KS142"] and [e["code"] for e in other_table] == ["KS142"]
    assert type_error and "datetime" in type_error[0]["message"]

    # msticpy-style quoting (no backslash escaping) lets a value end its literal early. One that
    # comments out the rest even keeps the token kinds (the rest of the line becomes trivia); the
    # trivia and the decoded value give it away.
    injected, commented = 'x" or 1 == 1 or "', 'x" // '
    naive, naive_comment, escaped, baseline, unterminated = kusto_parser.tokens([
        f'print v = "{injected}"', f'print v = "{commented}"', f"print v = {kql_string(injected)}",
        f'print v = "{HARMLESS}"', '"ends with \\"'])
    assert kinds(naive) != kinds(baseline) and shape(naive) != shape(baseline)
    assert kinds(naive_comment) == kinds(baseline)
    assert shape(naive_comment) != shape(baseline) and strings(naive_comment) != [commented]
    assert shape(escaped) == shape(baseline) and strings(escaped) == [injected]
    assert kinds(unterminated) == ["StringLiteralToken", "EndOfTextToken"] and unterminated[0]["diagnostics"]


def test_missing_parser_fails_in_ci_and_skips_locally(monkeypatch, tmp_path):
    """Needs no Node: it fakes a machine where node is there but the package was never installed."""
    monkeypatch.setattr(kusto_parser.shutil, "which", lambda name: f"/opt/{name}")
    monkeypatch.setattr(kusto_parser, "PACKAGE", tmp_path / "absent" / "package.json")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="cannot run in CI"):
        kusto_parser.require_kusto()
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception, match="npm ci --prefix tests/kusto"):
        kusto_parser.require_kusto()


# --------------------------------------------------------------------------------------------
# Hostile values


NASTY = [
    "'", '"', "\\", "\\\\", "\n", "\r", "\r\n", "\t", "|", "//", "/*", "*/", '@"', "@'", 'h"', '"""', "'''",
    "```", ";", "let", "let x = 1;", ")", "]", "(", "[", "{", "}", "$", "| take 1", "union *", "or 1 == 1",
    "\u202e", "\x00", "\u2028", "\u2029", "\x85", "\ufeff", "\x0b", "\x0c", "\u200b", "\U0001f600",
    "\\u0022", "\\x22", '\\"', "\\n", "\\'", "(?i)", ".*", "é", "\u05d0",
]
PIECE = st.one_of(st.sampled_from(NASTY), st.characters(), st.text(max_size=4))
SHORT = st.lists(PIECE, min_size=1, max_size=24).map("".join)
LONG = st.builds(lambda piece, times: piece * times, st.lists(PIECE, min_size=1, max_size=6).map("".join),
                 st.integers(50, 400))
HOSTILE = st.one_of(SHORT, SHORT, SHORT, LONG).filter(bool)

# Hand-picked values that must always be in the run, whatever hypothesis draws.
HAND_PICKED = [
    "", "\\", '"', "'", 'a" | take 1 //', "C:\\Windows\\System32\\", "@\"C:\\x\\\"", '""" | union * //',
    "x\n| where 1 == 1\n", "\r\n;let a = 1;", "\u202etxt.exe", "nul\x00byte", "line\u2028sep\u2029par",
    "\\u0041\\x41\\101", "'); drop table x; --", "]]>", "\\" * 1001, '"' * 999, "\U0001f600" * 300,
]


def generated_values() -> list[str]:
    """At least HOSTILE_EXAMPLES distinct hostile strings from hypothesis, collected by one @given
    run so that Node starts once for all of them instead of once per example. Hypothesis repeats
    itself now and then, so it is asked for a few more examples than needed."""
    found: dict[str, None] = {}

    @seed(HOSTILE_SEED)
    @settings(max_examples=HOSTILE_EXAMPLES + HOSTILE_EXAMPLES // 8, database=None, deadline=None,
              phases=[Phase.generate], suppress_health_check=list(HealthCheck))
    @given(HOSTILE)
    def collect(value: str) -> None:
        found[value] = None

    collect()
    return list(found)[:HOSTILE_EXAMPLES]


def utf8(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def kinds(tokens: list[dict]) -> list[str]:
    return [t["kind"] for t in tokens]


def shape(tokens: list[dict]) -> list[tuple[str, str]]:
    """Token kinds with the trivia before each token: whitespace and comments must not move either."""
    return [(t["kind"], t["trivia"]) for t in tokens]


def strings(tokens: list[dict]) -> list[str]:
    return [t["value"] for t in tokens if t["kind"] == "StringLiteralToken"]


def print_query(value: str) -> str:
    return f"print x = {kql_string(value)}"


def regex_literal(values: tuple[str, ...], case_sensitive: bool) -> str:
    """What the regex condition's literal must decode to when its values are ``re.escape``d."""
    return ("" if case_sensitive else "(?i)") + "|".join(f"(?:{re.escape(v)})" for v in values)


def rule_query(values: tuple[str, ...], case_sensitive: bool) -> str:
    """The rare-tasks query with ``values`` as parent command lines and as the values of one
    exclusion rule under every operator (the regex ones through ``re.escape``).

    The rule is built directly rather than through YAML: the YAML reader is not what is under test
    and it is slow on long strings.
    """
    def condition(field: str, operator: str, texts: tuple[str, ...]) -> Condition:
        return Condition(field, operator, texts, case_sensitive)

    rule = ExclusionRule(
        id="hostile", description="d", reason="r", owner="o", expires=dt.date(2099, 12, 31),
        conditions=(condition("FileName", "equals", values), condition("FolderPath", "startswith", values),
                    condition("AccountName", "endswith", values),
                    condition("ProcessCommandLine", "contains", values),
                    condition("ProcessCommandLine", "regex", tuple(re.escape(v) for v in values))))
    params = HuntParams(parent_command_lines=(SCHEDULE, *values), start="2026-11-01", max_devices=3)
    return render_rare_tasks_kql(params, [rule], target="sentinel")


def harmless(size: int) -> tuple[str, ...]:
    return tuple(f"{HARMLESS}{i}" for i in range(size))


@pytest.fixture(scope="module")
def hostile() -> dict:
    """The values, and what to ask Kusto about them: their literals, print queries and rule
    queries, and the same queries with harmless values.

    Analysing a rare-tasks query costs Kusto ~50 ms, so each rule query carries PER_RULE values
    (every one of them under every operator); a print query carries one.
    """
    generated = generated_values()
    values = HAND_PICKED + [v for v in generated if v not in HAND_PICKED]
    non_empty = [v for v in values if v]  # exclusion values must be non-empty
    groups = [(tuple(non_empty[i:i + PER_RULE]), (i // PER_RULE) % 2 == 1)  # alternate case sensitivity
              for i in range(0, len(non_empty), PER_RULE)]
    shapes = sorted({(len(group), cs) for group, cs in groups})
    prints = [print_query(v) for v in values]
    rules = [rule_query(group, cs) for group, cs in groups]
    baselines = [print_query(HARMLESS)] + [rule_query(harmless(size), cs) for size, cs in shapes]
    return {"generated": generated, "values": values, "groups": groups, "shapes": shapes, "rule_texts": rules,
            "queries": prints + rules, "texts": [kql_string(v) for v in values] + prints + rules + baselines}


@pytest.fixture(scope="module")
def hostile_answers(hostile, answers) -> dict:
    n, r = len(hostile["values"]), len(hostile["groups"])
    errors, toks = answers["hostile"]["queries"], answers["hostile"]["tokens"]
    return {
        "print_errors": errors[:n], "rule_errors": errors[n:],
        "literal_tokens": toks[:n], "print_tokens": toks[n:2 * n], "rule_tokens": toks[2 * n:2 * n + r],
        "print_baseline": toks[2 * n + r], "rule_baselines": dict(zip(hostile["shapes"], toks[2 * n + r + 1:])),
    }


def test_enough_hostile_values_were_generated(hostile):
    generated = hostile["generated"]
    assert len(generated) >= MIN_HOSTILE, (
        f"hypothesis produced {len(generated)} distinct values; at least {MIN_HOSTILE} are wanted")
    # about 1 in 8 values is long and each needle is in 2-20 % of them; these floors are far lower
    assert sum(len(v) >= 1000 for v in generated) >= len(generated) // 40, "few long strings were drawn"
    for needle in ('"', "'", "\\", "\n", "\x00", "\u2028", "\u202e", "//", "|"):
        assert sum(needle in v for v in generated) >= len(generated) // 200, f"few generated values hold {needle!r}"


def test_kql_string_lexes_as_one_string_literal_of_the_same_value(hostile, hostile_answers):
    failures = []
    for value, tokens in zip(hostile["values"], hostile_answers["literal_tokens"]):
        ok = (kinds(tokens) == ["StringLiteralToken", "EndOfTextToken"] and tokens[0]["trivia"] == ""
              and not tokens[0]["diagnostics"] and tokens[0]["value"] == value
              and tokens[1]["text"] == "" and tokens[1]["trivia"] == "")
        if not ok:
            failures.append(f"{shown(value)} -> {[(t['kind'], t['text'][:40]) for t in tokens][:6]}")
    assert not failures, (f"{len(failures)} of {len(hostile['values'])} values (seed {HOSTILE_SEED}):\n"
                          + "\n".join(failures[:10]))


def test_a_hostile_value_in_print_keeps_the_query_shape(hostile, hostile_answers):
    baseline = hostile_answers["print_baseline"]
    assert kinds(baseline) == ["PrintKeyword", "IdentifierToken", "EqualToken", "StringLiteralToken", "EndOfTextToken"]
    failures = []
    for value, errors, tokens in zip(hostile["values"], hostile_answers["print_errors"],
                                     hostile_answers["print_tokens"]):
        if errors or shape(tokens) != shape(baseline) or strings(tokens) != [value]:
            failures.append(f"{shown(value)}: errors {[e['message'] for e in errors][:3]}, tokens {kinds(tokens)[:8]}")
    assert not failures, (f"{len(failures)} of {len(hostile['values'])} values (seed {HOSTILE_SEED}):\n"
                          + "\n".join(failures[:10]))


def test_hostile_values_in_an_exclusion_rule_stay_literals(hostile, hostile_answers):
    """Same tokens and trivia as the query with harmless values, no errors, and each literal that held a
    harmless value now decodes to exactly the hostile one (the regex one to the escaped form)."""
    baselines = hostile_answers["rule_baselines"]
    for (size, cs), baseline in baselines.items():
        found = strings(baseline)
        # equals, startswith, endswith, contains, and the parent command lines twice (the extended
        # scope's task-host test and its published test); one regex literal
        assert all(found.count(h) == 6 for h in harmless(size)) and found.count(regex_literal(harmless(size), cs)) == 1
    assert len({tuple(kinds(b)) for b in baselines.values()}) == len(baselines)  # in~/in, contains/_cs, ...

    failures = []
    for (group, cs), text, errors, tokens in zip(hostile["groups"], hostile["rule_texts"],
                                                 hostile_answers["rule_errors"], hostile_answers["rule_tokens"]):
        baseline = baselines[(len(group), cs)]
        # each harmless literal's value -> the value the hostile query's literal must decode to
        swap = dict(zip(harmless(len(group)), group))
        swap[regex_literal(harmless(len(group)), cs)] = regex_literal(group, cs)
        values = ", ".join(shown(v, 60) for v in group)
        if errors:
            failures.append(f"[{values}]: {errors[0]['code']} {errors[0]['message']} at {excerpt(text, errors[0])}")
        elif shape(tokens) != shape(baseline):
            failures.append(f"[{values}]: tokens or trivia differ from the harmless query")
        elif strings(tokens) != [swap.get(b, b) for b in strings(baseline)]:
            failures.append(f"[{values}]: a literal decodes to another value")
    assert not failures, (f"{len(failures)} of {len(hostile['groups'])} rule queries (seed {HOSTILE_SEED}):\n"
                          + "\n".join(failures[:10]))


def test_duckdb_kql_reads_back_the_same_value(hostile):
    """A second, independent reader of the literals: duckdb-kql's ``print`` returns the value."""
    duckdb_kql = oracle("duckdb_kql", "duckdb-kql needs Python 3.11+")
    con = duckdb_kql.connect()
    # Lone surrogates (hypothesis draws them) cannot be encoded as UTF-8, so they cannot reach
    # duckdb, nor any real query text; Kusto's checks above still cover them. NUL is kept: duckdb
    # holds it.
    values = [v for v in hostile["values"] if utf8(v)]
    assert len(values) >= 0.9 * len(hostile["values"])
    failures = []

    def read(batch: list[str]) -> list[str]:
        columns = ", ".join(f"v{i} = {kql_string(v)}" for i, v in enumerate(batch))
        frame = duckdb_kql.kql(con, f"print {columns}").df()
        return [frame[f"v{i}"].iloc[0] for i in range(len(batch))]

    for start in range(0, len(values), 50):
        batch = values[start:start + 50]
        try:
            got = read(batch)
        except Exception:  # find the value that broke the batch
            got = []
            for value in batch:
                try:
                    got.append(read([value])[0])
                except Exception as exc:  # noqa: BLE001 - reported below
                    got.append(f"<error {type(exc).__name__}: {exc}>")
        failures += [f"{shown(v)} -> {shown(g)}" for v, g in zip(batch, got) if g != v]
    assert not failures, (f"{len(failures)} of {len(values)} values (seed {HOSTILE_SEED}):\n"
                          + "\n".join(failures[:10]))


@pytest.fixture(scope="module")
def stamps() -> list[pd.Timestamp]:
    found: list[pd.Timestamp] = []

    @seed(HOSTILE_SEED)
    @settings(max_examples=200, database=None, deadline=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(st.datetimes(min_value=dt.datetime(1678, 1, 1), max_value=dt.datetime(2261, 12, 31),
                        timezones=st.sampled_from([dt.timezone.utc, dt.timezone(dt.timedelta(hours=-7, minutes=-30))])),
           st.integers(0, 999))
    def collect(when: dt.datetime, nanos: int) -> None:
        found.append(pd.Timestamp(when) + pd.Timedelta(nanoseconds=nanos))

    collect()
    return found


def test_kql_datetime_is_one_datetime_literal(stamps, answers):
    """Times enter the queries through ``kql_datetime``: one token, to the 100 ns tick."""
    answer = answers["datetimes"]
    assert len(stamps) >= 100 and len(answer["queries"]) == len(answer["tokens"]) == len(stamps)
    for stamp, errors, tokens in zip(stamps, answer["queries"], answer["tokens"]):
        literal = kql_datetime(stamp)
        assert errors == [] and kinds(tokens) == ["DateTimeLiteralToken", "EndOfTextToken"], literal
        assert pd.Timestamp(literal[len("datetime("):-1]) == stamp.tz_convert("UTC").floor("100ns"), literal


# --------------------------------------------------------------------------------------------
# One Kusto run for the whole module


@pytest.fixture(scope="module")
def answers(kusto, matrix, hostile, stamps, templates) -> dict[str, dict[str, list]]:
    """Kusto's answers for every section, from one ``analyse`` call: each Node process spends
    about two CPU seconds loading and warming up, so the sections share one."""
    literals = [kql_datetime(s) for s in stamps]
    sections = {
        "matrix": (list(matrix), []),
        "controls": (CONTROLS, []),
        "hostile": (hostile["queries"], hostile["texts"]),
        "datetimes": ([f"print t = {lit}" for lit in literals], literals),
        "templates": (list(templates) + TEMPLATE_CONTROLS, []),
    }
    queries: list[str] = []
    texts: list[str] = []
    spans = {}
    for name, (qs, ts) in sections.items():
        spans[name] = (len(queries), len(qs), len(texts), len(ts))
        queries += qs
        texts += ts
    answer = kusto_parser.analyse(queries, texts)
    return {name: {"queries": answer["queries"][q:q + nq], "tokens": answer["tokens"][t:t + nt]}
            for name, (q, nq, t, nt) in spans.items()}


# --------------------------------------------------------------------------------------------
# Every msticpy template, as a remote hunt sends it
#
# The list comes from ``provider._renderers()`` itself (and must name exactly the templates of the
# query file), so a template added later is parsed without anyone remembering to add it here.


#: Data-borne values: quotes, backslashes, line breaks, KQL syntax, a bidi override.
TEMPLATE_HOSTILE = ('a"b.exe', "it's.exe", "x\\", "C:\\Users\\a b\\", "two\nlines", "cr\r\nlf", "tab\there",
                    'say "hi" | take 1 //', "@'x'", "\u202etxt.exe", "é\\ü")
#: A realistic value for every parameter of the query file that has no default, plus settings that
#: vary the query text. The test fails on a template parameter missing here.
TEMPLATE_VALUES: dict[str, object] = {
    "groups": pd.DataFrame({"FileName": ["evil.exe", *TEMPLATE_HOSTILE],
                            "ProcessCommandLine": ["evil.exe -run", *reversed(TEMPLATE_HOSTILE)],
                            "FolderPath": [r"C:\Users\Public\evil.exe", *TEMPLATE_HOSTILE]}),
    "processes": pd.DataFrame({"DeviceName": ["pc-01", *TEMPLATE_HOSTILE],
                               "ProcessId": pd.array([4000, *range(1, len(TEMPLATE_HOSTILE)), None], dtype="Int64")}),
    "device": 'pc"01\\\n| take 1',
    "ips": ["198.51.100.7", "2001:db8::1", *TEMPLATE_HOSTILE],
    "sha1s": ["ab" * 20, "0" * 40, *TEMPLATE_HOSTILE],
    "hosts": ["evil.example", "198.51.100.9", *TEMPLATE_HOSTILE],
    "sessions": pd.DataFrame({"DeviceName": ["pc-01", *TEMPLATE_HOSTILE],
                              "LogonId": [0x1A2B3C, *range(7, 7 + len(TEMPLATE_HOSTILE))],
                              "AccountName": ["adm", *TEMPLATE_HOSTILE]}),
    "threshold": 4,
    "max_devices": 2,
    "exclusions": "default",
    "known_tasks": "default",
}
TEMPLATE_PARAMS = (
    ("window, seed parent", {"start": "2026-11-01T00:00:00Z", "end": "2026-11-08T23:59:59.9999999Z"}),
    ("start only, hostile parents, two tables",
     {"start": "2026-11-01T06:30:00+02:00", "parent_command_lines": list(EXTRA_PARENTS) + ['x"\n\\'],
      "tables": ["DeviceNetworkEvents", "DeviceRegistryEvents"], "max_devices": 0, "threshold": 1}),
)
#: Negative controls for this section: an unknown table and an unknown function must be errors,
#: so a clean answer above means every name resolved.
TEMPLATE_CONTROLS = ["DeviceProcessEvent | take 1", "DeviceProcessEvents | invoke NoSuchFunction()",
                     "DeviceProcessEvents | where NoSuchFunction(FileName)", "DeviceProcessEvents | project RemoteIP"]
QUERY_FILE = REPO / "hunting_lib" / "queries" / "msticpy" / "rare_scheduled_tasks.yaml"


def template_parameters() -> dict[str, dict[str, object]]:
    """Per template of the query file, its parameters with their defaults (None when it has none)."""
    import yaml

    document = yaml.safe_load(QUERY_FILE.read_text(encoding="utf-8"))
    defaults = {name: spec.get("default") for name, spec in document["defaults"]["parameters"].items()}
    return {name: {**defaults, **{p: spec.get("default") for p, spec in (source.get("parameters") or {}).items()}}
            for name, source in document["sources"].items()}


@pytest.fixture(scope="module")
def templates() -> dict[str, list[str]]:
    """Every template rendered as ``secure()`` renders it (the values, then ``_params_from``, then
    the template's renderer) for both scopes, the three dialects and two settings; keyed by text."""
    from hunting_lib.remote.kql_literals import dialect
    from hunting_lib.remote.provider import _params_from, _renderers

    queries: dict[str, list[str]] = {}
    declared = template_parameters()
    for (name, render), (setting, extra), scope, target in product(
            _renderers().items(), TEMPLATE_PARAMS, ("published", "extended"), DIALECTS):
        values = {**declared[name], **{k: v for k, v in TEMPLATE_VALUES.items() if k in declared[name]},
                  **{k: v for k, v in extra.items() if k in declared[name]}, "scope": scope, "dialect": target}
        missing = sorted(k for k, v in values.items() if v is None and k not in ("start", "end"))
        assert not missing, f"template {name}: no test value for {missing}; add one to TEMPLATE_VALUES"
        params = _params_from(values)
        assert params.scope == scope
        text = render(params, dialect(target), values)
        if name == "file_profiles":  # Defender's built-in function, declared for the parser
            text = kusto_parser.FILE_PROFILE + text
        queries.setdefault(text, []).append(f"{name}/{scope}/{target}: {setting}")
    return queries


def test_the_templates_are_exactly_the_renderers():
    from hunting_lib.remote.provider import _renderers

    assert set(_renderers()) == set(template_parameters())
    # the four that were never parsed before are among them
    assert {"task_start_groups", "task_starts", "process_events", "device_network"} <= set(_renderers())


def test_every_template_parses_and_resolves_in_every_dialect(templates, answers):
    """Every query a remote hunt can send, for both scopes and the three dialects, with hostile
    data values: no syntax error and no unresolved table, column or function."""
    from hunting_lib.remote.provider import _renderers

    results = answers["templates"]["queries"]
    parsed, controls = results[:len(templates)], results[len(templates):]
    # unknown table; unknown function, tabular and scalar; a column of another table
    assert [[e["code"] for e in c] for c in controls] == [["KS204"], ["KS211"], ["KS211"], ["KS142"]], controls
    labels = [label for labels in templates.values() for label in labels]
    # every template, scope and dialect was rendered, whatever texts coincided
    assert {tuple(label.split(":")[0].split("/")) for label in labels} == set(
        product(_renderers(), ("published", "extended"), DIALECTS))
    failures = [f"{labels[0]} (+{len(labels) - 1} more): "
                + "; ".join(f"{e['code']} {e['message']} at {excerpt(text, e)}" for e in errors[:3])
                for (text, labels), errors in zip(templates.items(), parsed) if errors]
    assert not failures, f"{len(failures)} of {len(templates)} template queries have Kusto errors:\n" + "\n".join(failures)


def test_template_queries_carry_the_data_values_as_literals(templates):
    """The hostile values really reached the queries (so the clean parse above covers them), each
    as one escaped literal."""
    data_templates = {"task_starts": "groups", "task_activity_rows": "groups", "process_events": "processes",
                      "device_network": "device", "ip_devices": "ips", "file_profiles": "sha1s",
                      "indicator_contacts": "hosts", "task_logons": "sessions",
                      "file_certificates": "sha1s"}
    by_template: dict[str, list[str]] = {}
    for text, labels in templates.items():
        for label in labels:
            by_template.setdefault(label.split("/")[0], []).append(text)
    for name, parameter in data_templates.items():
        for text in by_template[name]:
            if parameter == "device":
                assert kql_string(TEMPLATE_VALUES["device"]) in text, name
            elif name == "task_activity_rows":  # the seed's match lowers the values first
                assert kql_string('say "hi" | take 1 //'.lower()) in text, name
            else:
                assert kql_string('say "hi" | take 1 //') in text, name
