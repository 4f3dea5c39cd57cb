"""The seed query file: the published text, verbatim, in the Sentinel hunting-query format."""

import re

import yaml

from hunting_lib.engine.query import SEED_QUERY_FILE, seed_kql, seed_literals, seed_query
from tests.conftest import REPO, SHARED, needs_shared

SEED_TEXT = SHARED / "seed" / "rare_sch_task_with_activity.txt"


def test_the_file_has_the_hunting_query_fields():
    query = seed_query()
    for key in ("id", "name", "description", "requiredDataConnectors", "tactics", "relevantTechniques", "query"):
        assert query[key], key
    tables = query["requiredDataConnectors"][0]["dataTypes"]
    assert len(tables) == 7 and all(re.search(rf"\b{t}\b", query["query"]) for t in tables)


@needs_shared
def test_the_query_is_the_published_text_verbatim():
    published = SEED_TEXT.read_text(encoding="utf-8").split("KQL Query\n", 1)[1].split("\nid: ", 1)[0]
    assert seed_kql().strip("\n") == published.strip("\n")


def test_no_other_file_in_the_library_copies_the_kql():
    distinctive = "mv-expand extended = CommandLines"
    copies = [p for p in (REPO / "hunting_lib").rglob("*") if p.is_file() and p.suffix in (".py", ".yaml", ".kql")
              and distinctive in p.read_text(encoding="utf-8", errors="ignore")]
    assert [p.relative_to(REPO / "hunting_lib").as_posix() for p in copies] == [SEED_QUERY_FILE]


def test_the_engine_literals_come_from_the_query():
    literals = seed_literals()
    assert literals.parent_file_name == "svchost.exe"
    assert literals.parent_command_line == "svchost.exe -k netsvcs -p -s Schedule"
    assert literals.excluded_file_name == "MpCmdRun.exe"
    assert literals.system_folder_prefix == "C:\\Windows\\System32\\"
    assert literals.shells == ("cmd.exe", "powershell.exe", "rundll32.exe", "regsvr32.exe")
    assert literals.threshold == 3


def test_the_yaml_parses_with_a_plain_loader():
    assert yaml.safe_load((REPO / "hunting_lib" / SEED_QUERY_FILE).read_text())["name"] == "rare_sch_task_with_activity"
