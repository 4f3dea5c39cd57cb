"""The kit reads the time in one place (``hunting_lib.clock``), and the suite pins it.

Rule expiry, a remote hunt's default window and the course's rule checks would otherwise change
their answers as the calendar moves; a test that passes today and fails next year is a test that
could pass by accident.
"""

from __future__ import annotations

import ast
import datetime as dt
from pathlib import Path

import pytest

import hunting_lib
from hunting_lib import clock
from hunting_lib.errors import BadInputError

PACKAGE = Path(hunting_lib.__file__).resolve().parent
#: Calls that read the wall clock.
CLOCK_CALLS = {"now", "today", "utcnow", "time"}


def test_the_suite_pins_today():
    # conftest pins HUNTING_LIB_TODAY for every test; the wall clock is not read.
    assert clock.today() == dt.date(2026, 11, 15)
    assert clock.now() == dt.datetime(2026, 11, 15, tzinfo=dt.timezone.utc)


def test_without_a_pin_the_clock_is_the_utc_wall_clock(monkeypatch):
    monkeypatch.delenv(clock.PIN_VARIABLE, raising=False)
    before = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    now = clock.now()
    after = dt.datetime.now(dt.timezone.utc)
    assert before <= now <= after and now.tzinfo is not None
    assert clock.today() in {before.date(), after.date()}


def test_a_bad_pin_is_one_clear_error(monkeypatch):
    monkeypatch.setenv(clock.PIN_VARIABLE, "next tuesday")
    with pytest.raises(BadInputError, match="HUNTING_LIB_TODAY='next tuesday' is not a date"):
        clock.today()


def wall_clock_reads(path: Path) -> list[str]:
    """``x.now()``, ``date.today()``, ``time.time()``... called in ``path``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr in CLOCK_CALLS and ast.unparse(node.func.value).split(".")[-1]
                in {"datetime", "date", "Timestamp", "time", "dt"}):
            found.append(f"{path.name}:{node.lineno}: {ast.unparse(node)}")
    return found


def test_the_finder_sees_a_wall_clock_read(tmp_path):
    source = tmp_path / "m.py"
    source.write_text("import datetime as dt\nimport pandas as pd\nx = dt.date.today()\ny = pd.Timestamp.now()\n")
    assert len(wall_clock_reads(source)) == 2


def test_only_the_clock_module_reads_the_wall_clock():
    reads = [r for path in sorted(PACKAGE.rglob("*.py")) if path.name != "clock.py" for r in wall_clock_reads(path)]
    assert not reads, reads
