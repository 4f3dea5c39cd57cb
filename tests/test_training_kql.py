"""The course's KQL exercises (11-13) and the sandbox that runs a trainee's query.

The model answers, run by duckdb-kql, must agree with the rows the kit computes in pandas (two
independent engines); plausible wrong queries must get ``[TRY AGAIN]`` with the hint that names
their mistake; valid KQL the local engine cannot run is ``[NOT GRADED]``, never wrong.
"""

from __future__ import annotations

import pandas as pd
import pytest

from tests.conftest import SAMPLE_DATA, oracle

oracle("duckdb_kql", "the KQL exercises run the trainee's query with it")

from hunting_lib.engine.query import seed_literals  # noqa: E402
from hunting_lib.training import kql_exercises as kx  # noqa: E402
from hunting_lib.training import kql_sandbox, kusto_check  # noqa: E402
from hunting_lib.training.data import exercise_data  # noqa: E402
from hunting_lib.training.grading import RESULTS  # noqa: E402
from tests.kusto_parser import kusto_available, require_kusto  # noqa: E402

D = SAMPLE_DATA
SEED = seed_literals()
M11, M12, M13 = (kx.model_kql(n, D) for n in (11, 12, 13))
#: The published steps 1-4 unchanged (every test case-sensitive as published).
PUBLISHED = kx._steps("==", "!=", "in")
PARENT_EQ = M11.replace("InitiatingProcessCommandLine =~", "InitiatingProcessCommandLine ==")
SCANNER_NE = M11.replace("FileName !~", "FileName !=")
AT_MOST_3 = M11.replace("count_ < 3", "count_ <= 3")
TYPO = M11.replace("| summarize", "| sumarize")
UNCLOSED = M11.replace('=~ @"svchost.exe"', '=~ @"svchost.exe')
MV_APPLY = M11 + "\n| extend Parts = split(FolderPath, @\"\\\")\n| mv-apply Part = Parts to typeof(string) on (take 1)"
NO_COMMAND_LINE = M11 + "\n| project FileName, FolderPath"
LOWERED_GROUPS = M11.replace("summarize count() by FileName,", "summarize count() by FileName = tolower(FileName),")
UNKNOWN_COLUMN = M11.replace("by FileName,", "by FileNam,")
EVERY_ROW = M11.split("\n| summarize")[0] + "\n| project FileName, ProcessCommandLine, FolderPath"
ALL_ACTIONS = M12.replace('ActionType == "ScheduledTaskCreated"', 'ActionType startswith "ScheduledTask"')
PROCESS_ACCOUNT = "\n".join([
    "DeviceEvents",
    '| where ActionType == "ScheduledTaskCreated"',
    "| extend TaskName = tostring(parse_json(AdditionalFields).TaskName)",
    '| project DeviceName, TaskName, RegisteredBy = strcat(InitiatingProcessAccountDomain, @"\\", '
    "InitiatingProcessAccountName)",
])
NAME_ONLY = M12.replace('strcat(tostring(Fields.SubjectDomainName), @"\\", Caller)', "toupper(Caller)")
WINDOW = kx.window_13(D)
NO_WINDOW = M13.replace(f"| where {WINDOW}\n", "")
CASE_INSENSITIVE_13 = kx._steps("=~", "!~", "in~", window=str(WINDOW))
SHORT_WINDOW = M13.replace(f"Timestamp < {WINDOW.end_kql}",
                           f"Timestamp < {kx.Window.literal(WINDOW.end - pd.Timedelta(days=1))}")

#: Plausible wrong answers, each with the words its hint must contain.
WRONG = [
    (11, PUBLISHED, "published query's answer, case rules unchanged"),
    (11, PARENT_EQ, "written '-s schedule': compare the parent's command line with =~"),
    (11, SCANNER_NE, "keeps 'mpcmdrun.exe': drop Defender's scanner with !~"),
    (11, AT_MOST_3, "keep count_ < 3, not <= 3"),
    (11, M11.replace("FileName in~", "FileName in"), "use in~"),
    (11, M11.replace("\n| where count_ < 3", ""), "end with | where count_ < 3"),
    (11, LOWERED_GROUPS, "differ from the expected ones only in letter case"),
    (11, EVERY_ROW, "rows repeat a group"),
    (11, NO_COMMAND_LINE, "the result has no column 'ProcessCommandLine'"),
    (11, M11 + "\n| project filename = FileName, ProcessCommandLine, FolderPath", "column names are case-sensitive"),
    (12, ALL_ACTIONS, "list only ActionType == \"ScheduledTaskCreated\""),
    (12, PROCESS_ACCOUNT, "the right task with another account"),
    (13, NO_WINDOW, "filter Timestamp to the window before counting"),
    (13, CASE_INSENSITIVE_13, "the published steps as published"),
    (13, SHORT_WINDOW, f"Timestamp < {WINDOW.end_kql}"),
]


@pytest.fixture(scope="module", autouse=True)
def _kusto_warm():
    """Ask Microsoft's parser about every query of this module in one Node process (about 2 s
    each otherwise)."""
    if kusto_available():
        queries = [q for q in globals().values() if isinstance(q, str) and "Device" in q]
        kql_sandbox.kusto_errors(queries + [query for _, query, _ in WRONG] + [kx.model_kql(n, D) for n in (11, 12, 13)])


def verdict_of(number: int, query: str, capsys) -> str:
    verdict = kx.CHECKERS[number](query, D)
    printed = capsys.readouterr().out
    assert str(verdict) in printed and RESULTS[number] is verdict
    return str(verdict)


# --------------------------------------------------------------------------------------------
# Model answers


@pytest.mark.parametrize("number", [11, 12, 13])
def test_model_answers_pass(number, capsys):
    said = verdict_of(number, kx.model_kql(number, D), capsys)
    assert said.startswith(f"[PASS] Exercise {number}:")


def test_expected_11_has_the_groups_the_published_case_rules_lose():
    """The point of exercise 11: the '-s schedule' host's groups are in, 'mpcmdrun.exe' is out."""
    p = exercise_data(D).processes
    lower_host = p["InitiatingProcessCommandLine"].str.lower().eq(SEED.parent_command_line.lower()) & \
        p["InitiatingProcessCommandLine"].ne(SEED.parent_command_line)
    assert lower_host.any(), "the sample should have a Schedule host written in another case"
    variant_groups = set(p.loc[lower_host, ["FileName", "ProcessCommandLine", "FolderPath"]]
                         .itertuples(index=False, name=None))
    expected = set(kx.expected_11(D)[["FileName", "ProcessCommandLine", "FolderPath"]]
                   .itertuples(index=False, name=None))
    published = exercise_data(D).rare_groups()
    assert variant_groups & expected and not variant_groups & published
    assert not any(name == "mpcmdrun.exe" for name, _, _ in expected)
    assert any(name == "mpcmdrun.exe" for name, _, _ in published)
    assert (kx.expected_11(D)["count_"] < SEED.threshold).all()


def test_expected_12_reads_the_caller_of_a_remote_registration():
    """A task the Schedule service wrote as SYSTEM for a remote caller names the caller."""
    rows = kx.expected_12(D)
    raw = exercise_data(D).tables["DeviceEvents"]
    created = raw[raw["ActionType"].eq("ScheduledTaskCreated")]
    assert len(rows) == len(created) and rows["TaskName"].str.startswith("\\").all()
    assert not rows["RegisteredBy"].str.lower().str.endswith("\\system").any()
    by_service = created["InitiatingProcessAccountName"].str.lower().eq("system")
    assert by_service.sum() > 0


def test_window_is_the_last_seven_whole_days():
    times = exercise_data(D).processes["Timestamp"]
    assert WINDOW.end - WINDOW.start == pd.Timedelta(days=7)
    assert WINDOW.end > times.max() and WINDOW.end - pd.Timedelta(days=1) <= times.max()
    assert WINDOW.start.hour == 0 and WINDOW.start > times.min()
    assert str(WINDOW).startswith("Timestamp >= datetime(") and "and Timestamp < datetime(" in str(WINDOW)


# --------------------------------------------------------------------------------------------
# Wrong answers: the specific hint


@pytest.mark.parametrize("number,query,hint", WRONG)
def test_wrong_queries_get_the_specific_hint(number, query, hint, capsys):
    said = verdict_of(number, query, capsys)
    assert said.startswith(f"[TRY AGAIN] Exercise {number}:"), said
    assert hint in said, said


def test_mismatch_counts_and_examples(capsys):
    said = verdict_of(11, PARENT_EQ, capsys)
    lost = set(kx.expected_11(D)["FileName"]) - {n for n, _, _ in exercise_data(D).rare_groups()}
    assert "missing, 0 extra" in said and "missing e.g. (" in said
    assert any(f"'{name}'" in said for name in lost)


def test_account_any_case_with_or_without_domain_passes(capsys):
    assert verdict_of(12, NAME_ONLY, capsys).startswith("[PASS]")


def test_inclusive_window_end_is_named_when_a_launch_sits_on_it(monkeypatch, capsys):
    """The sample has no launch at midnight; a window ending on a group's first launch shows
    what ``<=`` (or between) does there. duckdb-kql reads datetime literals to the microsecond,
    so the launch chosen is one whose time has no 100 ns digit."""
    starts = exercise_data(D).starts
    inside = starts[(starts["Timestamp"] >= WINDOW.start) & (starts["Timestamp"] < WINDOW.end)]
    firsts = inside.groupby(["FileName", "ProcessCommandLine", "FolderPath"])["Timestamp"].min().sort_values()
    whole_microseconds = firsts[[t.value % 1000 == 0 for t in firsts]]
    assert len(whole_microseconds), "no group's first launch in the window falls on a whole microsecond"
    end = whole_microseconds.iloc[len(whole_microseconds) // 2]
    monkeypatch.setattr(kx, "window_13", lambda data_dir=None, days=7: kx.Window(WINDOW.start, end))
    model = kx.model_kql(13, D)
    assert kx.Window.literal(end) in model
    assert verdict_of(13, model, capsys).startswith("[PASS]")
    inclusive = model.replace("Timestamp < ", "Timestamp <= ")
    said = verdict_of(13, inclusive, capsys)
    assert said.startswith("[TRY AGAIN]") and "the window's end is exclusive" in said


def test_no_answer_and_not_text(capsys):
    assert "no answer yet" in verdict_of(11, None, capsys)
    said = str(kx.check_12(["DeviceEvents"], D))
    assert said.startswith("[TRY AGAIN]") and "expected the query as text, got list" in said


# --------------------------------------------------------------------------------------------
# Syntax, unsupported, runtime errors: Microsoft's parser decides


def test_syntax_errors_are_one_line_with_line_and_column(capsys):
    require_kusto()
    said = verdict_of(11, TYPO, capsys)
    line = TYPO.split("\n").index(next(x for x in TYPO.split("\n") if "sumarize" in x)) + 1
    assert said.startswith("[TRY AGAIN]") and "not valid KQL" in said and f"line {line}:" in said
    assert "\n" not in said and "Traceback" not in said
    unclosed = kql_sandbox.run_kql(UNCLOSED, D)
    assert unclosed.kind == "syntax" and unclosed.parser == "kusto" and "line 2:" in unclosed.problem


def test_valid_kql_the_engine_lacks_is_not_graded(capsys):
    require_kusto()
    said = verdict_of(11, MV_APPLY, capsys)
    assert said.startswith("[NOT GRADED] Exercise 11:") and "not supported by the local engine" in said
    assert RESULTS[11].correct is False


def test_an_engine_failure_on_valid_kql_is_not_the_trainee_s(monkeypatch):
    """Kusto found the names and types right, so a runtime failure is the local engine's."""
    require_kusto()
    import duckdb
    import duckdb_kql

    def failing(*args, **kwargs):
        raise duckdb.BinderException("Binder Error: something the translation got wrong\nLINE 1: ...")

    monkeypatch.setattr(duckdb_kql, "kql", failing)
    run = kql_sandbox.run_kql(M11, D)
    assert run.kind == "unsupported" and "not supported by the local engine" in run.problem
    assert "the translation got wrong" in run.problem and "\n" not in run.problem


def test_a_folder_that_cannot_load_is_one_line(tmp_path):
    (tmp_path / "DeviceProcessEvents.csv").write_text("Timestamp,DeviceName\nnot a time,pc\n", encoding="utf-8")
    run = kql_sandbox.run_kql("DeviceProcessEvents | count", tmp_path, check_with_kusto=False)
    assert run.kind == "error" and run.problem.startswith("the data could not be loaded") and "\n" not in run.problem


def test_unknown_column_is_a_readable_error(capsys):
    require_kusto()
    said = verdict_of(11, UNKNOWN_COLUMN, capsys)
    assert "the query did not run" in said and "'FileNam'" in said and "line 6:" in said


def test_without_the_parser_duckdb_kql_judges_and_says_so(monkeypatch, tmp_path):
    monkeypatch.setenv(kusto_check.KUSTO_DIR_VARIABLE, str(tmp_path))  # no package there
    assert not kusto_check.kusto_available()
    run = kql_sandbox.run_kql(TYPO, D)
    assert run.kind == "syntax" and run.parser == "duckdb-kql" and "parser was not available" in run.notes[0]
    unsupported = kql_sandbox.run_kql(MV_APPLY, D)
    assert unsupported.kind == "unsupported" and "not supported by the local engine" in unsupported.problem
    unknown = kql_sandbox.run_kql(UNKNOWN_COLUMN, D)
    assert unknown.kind == "error" and "FileNam" in unknown.problem and "\n" not in unknown.problem
    assert kql_sandbox.run_kql(M11, D).ok


def test_kusto_dir_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.delenv(kusto_check.KUSTO_DIR_VARIABLE, raising=False)
    assert kusto_check.kusto_dir().name == "kusto" and kusto_check.kusto_dir().parent.name == "tests"
    monkeypatch.setenv(kusto_check.KUSTO_DIR_VARIABLE, str(tmp_path))
    assert kusto_check.kusto_dir() == tmp_path
    assert "not installed" in kusto_check.missing_reason() or "node" in kusto_check.missing_reason()


def test_line_column():
    text = "a\nbc\ndef"
    assert kusto_check.line_column(text, 0) == (1, 1)
    assert kusto_check.line_column(text, 3) == (2, 2)
    assert kusto_check.line_column(text, 7) == (3, 3)


# --------------------------------------------------------------------------------------------
# The sandbox: big results, hostile text


def test_big_results_are_capped():
    run = kql_sandbox.run_kql("DeviceProcessEvents", D, max_rows=50, check_with_kusto=False)
    assert run.ok and run.truncated and len(run.frame) == 50 and "50+ rows" in str(run)
    many = kql_sandbox.MAX_ROWS + 10
    said = str(kx.check_11(f'range x from 1 to {many} step 1 | extend FileName = "a.exe", '
                           'ProcessCommandLine = tostring(x), FolderPath = @"C:\\a.exe"', D))
    assert "more than" in said and "rows" in said


def test_a_runaway_query_is_stopped_and_the_sandbox_still_answers():
    cubed = ("DeviceProcessEvents | extend k = 1 | join kind=inner (DeviceNetworkEvents | extend k = 1) on k "
             "| join kind=inner (DeviceFileEvents | extend k = 1) on k | summarize count()")
    run = kql_sandbox.run_kql(cubed, D, check_with_kusto=False, timeout=1)
    assert run.kind == "error" and run.problem.startswith("stopped after 1 s")
    assert kql_sandbox.run_kql("DeviceProcessEvents | count", D, check_with_kusto=False).ok


def test_hostile_text_cannot_change_the_loaded_tables():
    before = kql_sandbox.run_kql("DeviceProcessEvents | count", D, check_with_kusto=False).frame.iloc[0, 0]
    for text in ['print x = "\'; DROP TABLE DeviceProcessEvents; --"', "DeviceProcessEvents | where FileName == \"x\"; "
                 "DROP TABLE DeviceProcessEvents", ".drop table DeviceProcessEvents", "\x00", "'" * 5000]:
        run = kql_sandbox.run_kql(text, D, check_with_kusto=False)
        assert run.ok or (run.problem and "\n" not in run.problem and len(run.problem) <= kql_sandbox.MAX_PROBLEM_CHARS)
    after = kql_sandbox.run_kql("DeviceProcessEvents | count", D, check_with_kusto=False).frame.iloc[0, 0]
    assert after == before and before == len(exercise_data(D).processes)


def test_the_sandbox_holds_every_schema_column_and_absent_tables(tmp_path):
    (tmp_path / "DeviceProcessEvents.csv").write_text(
        "Timestamp,DeviceName,FileName\n2026-11-02T08:00:00.1234567Z,pc-01,a.exe\n", encoding="utf-8")
    run = kql_sandbox.run_kql("DeviceProcessEvents | project Timestamp, FileName, SHA256", tmp_path,
                              check_with_kusto=False)
    assert run.ok and run.frame["FileName"].tolist() == ["a.exe"] and run.frame["SHA256"].tolist() in ([""], [None])
    assert run.frame["Timestamp"].iloc[0] == pd.Timestamp("2026-11-02T08:00:00.1234567")
    empty = kql_sandbox.run_kql("DeviceEvents | count", tmp_path, check_with_kusto=False)
    assert empty.ok and empty.frame.iloc[0, 0] == 0
