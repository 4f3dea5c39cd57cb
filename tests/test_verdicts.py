"""Verdicts: the clock, expiry, which one is in force, SHA1 binding, and draft exclusion rules."""

from __future__ import annotations

import datetime as dt
from importlib import resources
from pathlib import Path

import pandas as pd
import pytest
import yaml

from hunting_lib.errors import BadInputError
from hunting_lib.history.runs import record_run
from hunting_lib.history.store import open_history
from hunting_lib.history.verdicts import (
    apply_verdicts,
    current_verdicts,
    draft_rule,
    list_verdicts,
    record_verdict,
    write_draft_rule,
)
from hunting_lib.triage.exclusions import load_exclusions
from hunting_lib.triage.pipeline import suppress
from tests.conftest import PINNED_TODAY, task_start, typed
from tests.history_helpers import counts, findings, program, record

SHA_OLD, SHA_NEW, SHA_OTHER = "a" * 40, "b" * 40, "c" * 40
A, B = program("alpha"), program("bravo")
PINNED = pd.Timestamp(f"{PINNED_TODAY}T00:00:00Z")


@pytest.fixture
def store(tmp_path):
    with open_history(tmp_path / "history.sqlite") as opened:
        yield opened


def found_in_a_run(store, triples, sha1s, week: int = 0) -> pd.DataFrame:
    group = counts(triples, week=week, count=1)
    record_run(store, record(week, group, findings(group, sha1s=sha1s)))
    return group


def rare(group: pd.DataFrame, sha1s: list, suppressed_by=None) -> pd.DataFrame:
    """The rare groups a hunt hands to apply_verdicts."""
    out = group[["GroupKey", "GroupPattern", "FileName", "ProcessCommandLine", "FolderPath"]].reset_index(drop=True)
    out["SHA1s"] = sha1s
    out["SuppressedBy"] = suppressed_by
    return out


def test_a_verdict_takes_its_time_from_the_kit_clock(store, monkeypatch):
    key = found_in_a_run(store, [A], [[SHA_OLD]])["GroupKey"].iloc[0]
    first = record_verdict(store, key, "benign", "ann", "vendor updater")
    assert first["At"] == "2026-11-15T00:00:00Z"  # the pinned date (tests' conftest)
    assert first["Expires"] == "2027-02-13T00:00:00Z"  # 90 days
    assert first["SHA1s"] == [SHA_OLD] and first["Seen"] is True
    monkeypatch.setenv("HUNTING_LIB_TODAY", "2027-01-02")
    later = record_verdict(store, key, "benign", "ann", expires_days=30)
    assert (later["At"], later["Expires"]) == ("2027-01-02T00:00:00Z", "2027-02-01T00:00:00Z")
    assert later["Id"] == first["Id"] + 1


def test_only_benign_verdicts_expire(store):
    key = found_in_a_run(store, [A], [[]])["GroupKey"].iloc[0]
    assert record_verdict(store, key, "malicious", "bob")["Expires"] is None
    assert record_verdict(store, key, "follow-up", "bob")["Expires"] is None
    with pytest.raises(BadInputError, match="only a benign verdict expires"):
        record_verdict(store, key, "malicious", "bob", expires_days=5)
    with pytest.raises(BadInputError, match="at least 1"):
        record_verdict(store, key, "benign", "bob", expires_days=0)


@pytest.mark.parametrize("key, verdict, analyst, expected", [
    ("gk-123", "benign", "ann", "not a group key"),
    ("gk-0123456789ABCDEF", "benign", "ann", "not a group key"),
    ("gk-0123456789abcdef", "fine", "ann", "use one of benign, malicious, follow-up"),
    ("gk-0123456789abcdef", "benign", "  ", "needs the analyst"),
])
def test_bad_verdicts_are_refused_and_nothing_is_recorded(store, key, verdict, analyst, expected):
    with pytest.raises(BadInputError, match=expected):
        record_verdict(store, key, verdict, analyst)
    assert list_verdicts(store).empty


def test_the_latest_verdict_is_in_force_until_it_expires(store):
    key = found_in_a_run(store, [A], [[SHA_OLD]])["GroupKey"].iloc[0]
    at = pd.Timestamp("2026-11-01T09:00:00Z")
    record_verdict(store, key, "follow-up", "ann", at=at)
    benign = record_verdict(store, key, "benign", "bob", "checked", expires_days=10, at=at + pd.Timedelta(hours=1))
    during = current_verdicts(store, at=at + pd.Timedelta(days=5))
    assert list(during["Id"]) == [benign["Id"]] and list(during["Verdict"]) == ["benign"]
    after = at + pd.Timedelta(days=11)
    assert current_verdicts(store, at=after).empty  # the older follow-up does not come back
    listed = list_verdicts(store, at=after)
    assert list(listed["Status"]) == ["expired", "replaced"]
    assert list(listed["Verdict"]) == ["benign", "follow-up"]


def test_a_benign_verdict_binds_the_sha1s_of_the_latest_finding(store):
    found_in_a_run(store, [A], [[SHA_OLD]], week=0)
    key = found_in_a_run(store, [A], [[SHA_NEW.upper()]], week=1)["GroupKey"].iloc[0]
    assert record_verdict(store, key, "benign", "ann")["SHA1s"] == [SHA_NEW]


def test_apply_suppresses_the_same_binary_and_shows_a_replaced_one(store):
    group = found_in_a_run(store, [A, B], [[SHA_OLD], [SHA_OTHER]])
    key_a, key_b = group["GroupKey"]
    verdict = record_verdict(store, key_a, "benign", "ann", "vendor updater")
    malicious = record_verdict(store, key_b, "malicious", "bob", "beacon")
    verdicts = current_verdicts(store)
    cases = {
        "same": ([SHA_OLD], f"verdict:{verdict['Id']}", False),
        "same, other case": ([SHA_OLD.upper()], f"verdict:{verdict['Id']}", False),
        "replaced": ([SHA_NEW], None, True),
        "one of two replaced": ([SHA_OLD, SHA_NEW], None, True),
        "unknown binary": ([], None, True),
    }
    for case, (sha1s, suppressed, changed) in cases.items():
        out = apply_verdicts(rare(group, [sha1s, [SHA_OTHER]]), verdicts)
        assert out.loc[0, "SuppressedBy"] == suppressed, case
        shown = out.loc[0, "Verdict"]
        assert shown["BinaryChanged"] is changed, case
        assert (shown["Verdict"], shown["Analyst"], shown["Note"], shown["Id"]) == (
            "benign", "ann", "vendor updater", verdict["Id"])
        assert shown["At"] == verdict["At"] and shown["Expires"] == verdict["Expires"] and shown["SHA1s"] == [SHA_OLD]
        # a malicious verdict is shown and never suppresses
        assert out.loc[1, "Verdict"]["Verdict"] == "malicious" and out.loc[1, "Verdict"]["Id"] == malicious["Id"]
        assert out.loc[1, "SuppressedBy"] is None


def test_a_verdict_without_known_sha1s_suppresses_on_the_key(store):
    key = "gk-00000000000000aa"  # never seen: recorded anyway, with no binary to bind
    verdict = record_verdict(store, key, "benign", "ann")
    assert verdict["Seen"] is False and verdict["SHA1s"] == []
    frame = pd.DataFrame({"GroupKey": [key, "gk-00000000000000bb"], "FileName": ["x.exe", "y.exe"],
                          "ProcessCommandLine": ["x", "y"], "FolderPath": ["C:\\x.exe", "C:\\y.exe"],
                          "SHA1s": [[SHA_NEW], [SHA_NEW]], "SuppressedBy": [None, None]})
    out = apply_verdicts(frame, current_verdicts(store))
    assert list(out["SuppressedBy"]) == [f"verdict:{verdict['Id']}", None]
    assert out.loc[0, "Verdict"]["BinaryChanged"] is False and out.loc[1, "Verdict"] is None


def test_a_rule_or_known_task_keeps_precedence_and_expired_verdicts_are_not_applied(store):
    group = found_in_a_run(store, [A], [[SHA_OLD]])
    record_verdict(store, group["GroupKey"].iloc[0], "benign", "ann", expires_days=5)
    out = apply_verdicts(rare(group, [[SHA_OLD]], "backup-veeam-agent"), current_verdicts(store))
    assert out.loc[0, "SuppressedBy"] == "backup-veeam-agent"
    assert out.loc[0, "Verdict"]["Verdict"] == "benign"
    later = current_verdicts(store, at=PINNED + pd.Timedelta(days=6))
    out = apply_verdicts(rare(group, [[SHA_OLD]]), later)
    assert out.loc[0, "Verdict"] is None and out.loc[0, "SuppressedBy"] is None
    assert apply_verdicts(rare(group, [[SHA_OLD]]), later)["Verdict"].isna().all()


HOSTILE = "C:\\Users\\Public\\run me.exe"
HOSTILE_CMD = "\"C:\\Users\\Public\\run me.exe\" -c \"a: b # c\" 'x' & echo {y} [z] *w %TEMP% \u202e"


def starts_and_groups(triples: list[tuple[str, str, str]]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Task starts (two per group) and the rare groups with a TaskId each, as triage sees them."""
    rows = [task_start(f, c, p, minutes=i) for i, (f, c, p) in enumerate(triples + triples)]
    starts = typed("DeviceProcessEvents", rows)
    groups = pd.DataFrame(triples, columns=["FileName", "ProcessCommandLine", "FolderPath"])
    groups["TaskId"] = range(len(groups))
    return starts, groups


def test_a_draft_rule_loads_and_suppresses_exactly_its_group(store, tmp_path):
    target = ("run me.exe", HOSTILE_CMD, HOSTILE)
    key = found_in_a_run(store, [target], [[SHA_OLD]])["GroupKey"].iloc[0]
    rule = draft_rule(store, key, "ann", "the print spooler vendor's updater\nsecond line", dt.date(2027, 2, 13))
    path = tmp_path / "drafts" / "verdict_rules.yaml"
    write_draft_rule(path, rule)
    assert path.read_text(encoding="utf-8").startswith("# Draft exclusion rules")
    loaded = load_exclusions(path)
    assert [(r.id, r.owner, r.expires, r.enabled) for r in loaded] == [
        (f"verdict-{key}", "ann", dt.date(2027, 2, 13), True)]
    assert loaded[0].reason == "the print spooler vendor's updater second line"
    near_misses = [
        ("run me.exe", HOSTILE_CMD, HOSTILE.upper()),  # other case: a different group to the seed
        ("run me.exe", HOSTILE_CMD + " ", HOSTILE),
        ("run me.exe", "\"C:\\Users\\Public\\run me.exe\"", HOSTILE),
        ("Run Me.exe", HOSTILE_CMD, HOSTILE),
    ]
    starts, groups = starts_and_groups([target] + near_misses)
    out = suppress(groups, starts, loaded)
    assert list(out["SuppressedBy"]) == [f"verdict-{key}", None, None, None, None]


def test_per_user_copies_and_an_empty_folder_are_anchored_exactly(store, tmp_path):
    alice = ("upd.exe", "C:\\Users\\alice\\Upd\\upd.exe /s", "C:\\Users\\alice\\Upd\\upd.exe")
    bob = ("upd.exe", "C:\\Users\\bob\\Upd\\upd.exe /s", "C:\\Users\\bob\\Upd\\upd.exe")
    no_folder = ("x.exe", "x.exe /q", "")
    group = found_in_a_run(store, [alice, bob, no_folder], [[], [], []])
    assert group["GroupKey"].iloc[0] == group["GroupKey"].iloc[1]
    path = tmp_path / "drafts.yaml"
    for key in group["GroupKey"].unique():
        write_draft_rule(path, draft_rule(store, key, "ann", "ok", dt.date(2027, 1, 1)))
    rules = load_exclusions(path)
    assert len(rules) == 2
    carol = ("upd.exe", "C:\\Users\\carol\\Upd\\upd.exe /s", "C:\\Users\\carol\\Upd\\upd.exe")
    with_folder = ("x.exe", "x.exe /q", "C:\\x.exe")
    starts, groups = starts_and_groups([alice, bob, no_folder, carol, with_folder])
    out = suppress(groups, starts, rules)
    keys = group["GroupKey"].tolist()
    assert list(out["SuppressedBy"]) == [f"verdict-{keys[0]}", f"verdict-{keys[0]}", f"verdict-{keys[2]}", None, None]


def test_drafts_append_and_a_second_draft_for_a_key_replaces_the_first(store, tmp_path):
    group = found_in_a_run(store, [A, B], [[], []])
    key_a, key_b = group["GroupKey"]
    path = tmp_path / "drafts.yaml"
    path.write_text("rules:\n  - id: team-rule\n    description: d\n    reason: r\n    owner: o\n"
                    "    expires: 2027-01-01\n    when: {FileName: {equals: z.exe}}\n", encoding="utf-8")
    write_draft_rule(path, draft_rule(store, key_a, "ann", "first", dt.date(2027, 1, 1)))
    write_draft_rule(path, draft_rule(store, key_b, "ann", "other", dt.date(2027, 1, 1)))
    write_draft_rule(path, draft_rule(store, key_a, "bob", "second", dt.date(2027, 3, 1)))
    rules = load_exclusions(path)
    assert [r.id for r in rules] == ["team-rule", f"verdict-{key_b}", f"verdict-{key_a}"]
    assert (rules[2].owner, rules[2].reason, rules[2].expires) == ("bob", "second", dt.date(2027, 3, 1))


def test_drafts_refuse_what_they_must_not_write(store, tmp_path):
    key = found_in_a_run(store, [A], [[]])["GroupKey"].iloc[0]
    rule = draft_rule(store, key, "ann", "ok", dt.date(2027, 1, 1))
    with pytest.raises(BadInputError, match="no recorded finding"):
        draft_rule(store, "gk-00000000000000aa", "ann", "ok", dt.date(2027, 1, 1))
    with pytest.raises(BadInputError, match="needs a reason"):
        draft_rule(store, key, "ann", " ", dt.date(2027, 1, 1))
    shipped = Path(str(resources.files("hunting_lib").joinpath("config/exclusions.yaml")))
    before = shipped.read_text(encoding="utf-8")
    with pytest.raises(BadInputError, match="shipped configuration"):
        write_draft_rule(shipped, rule)
    assert shipped.read_text(encoding="utf-8") == before
    not_rules = tmp_path / "notes.yaml"
    not_rules.write_text("- just\n- a list\n", encoding="utf-8")
    with pytest.raises(BadInputError, match="not a rules file"):
        write_draft_rule(not_rules, rule)
    assert not_rules.read_text(encoding="utf-8") == "- just\n- a list\n"
    fresh = tmp_path / "ok.yaml"
    write_draft_rule(fresh, rule)
    assert [r["id"] for r in yaml.safe_load(fresh.read_text(encoding="utf-8"))["rules"]] == [rule["id"]]
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary file left
