"""The training course as a course: its date, its pacing, and its closing checklist.

- The course pins its own "today", so it gives the same answers in any year: the notebook runs
  headless with solutions while the kernel's real clock (and the kit's clock variable) say 2030,
  years after the shipped exclusion rules expire.
- Every part is sized for one sitting of 20-30 minutes, and the figures the notebook states are
  the pacing model's (``hunting_lib.training.pacing``), so they cannot drift from the content.
"""

from __future__ import annotations

import datetime as dt
import os
import re

import nbformat
import pytest

from hunting_lib import clock
from hunting_lib.training import course as training
from hunting_lib.training import pacing
from tests.conftest import REPO, SAMPLE_DATA, oracle

NOTEBOOK = REPO / "notebooks" / "training_rare_scheduled_tasks.ipynb"
PASS = re.compile(r"^\[PASS\] Exercise (\d+): ", re.MULTILINE)
FAIL = re.compile(r"^\[TRY AGAIN\] Exercise (\d+): ", re.MULTILINE)

#: Starts the kernel's real clock in 2030 (time-machine patches the C-level time functions, so
#: datetime.now(), date.today() and time.time() all move) and writes down the date it saw.
FAKE_CLOCK = '''
import os
if os.environ.get("TRAINING_FAKE_NOW"):
    import datetime
    import time_machine
    time_machine.travel(os.environ["TRAINING_FAKE_NOW"], tick=True).start()
    with open(os.environ["TRAINING_CLOCK_FILE"], "a", encoding="utf-8") as seen:
        seen.write(datetime.date.today().isoformat() + "\\n")
'''


def printed_text(notebook) -> str:
    return "".join(output.get("text", "")
                   for cell in notebook.cells if cell.cell_type == "code"
                   for output in cell.get("outputs", []) if output.get("output_type") == "stream")


def test_the_course_date_is_the_sample_windows_end_and_pins_the_kits_clock(monkeypatch):
    key_end = training.load_answer_key(SAMPLE_DATA)["window"]["end"]
    assert training.course_today(SAMPLE_DATA).isoformat() == str(key_end)[:10]
    monkeypatch.setenv(clock.PIN_VARIABLE, "2030-06-01")
    assert training.pin_today(None, SAMPLE_DATA) == training.course_today(SAMPLE_DATA) == clock.today()
    assert training.pin_today("2027-01-02") == dt.date(2027, 1, 2) == clock.today()


def test_the_notebook_passes_with_the_clock_in_2030(tmp_path, monkeypatch):
    """The issue's failure: in July 2027 the shipped rules expire, result.suppressed empties and
    exercise 9 breaks. With its own date the course passes in 2030 too."""
    papermill = oracle("papermill")
    oracle("time_machine", "fakes the kernel's clock for the 2030 run")
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(FAKE_CLOCK, encoding="utf-8")
    seen = tmp_path / "clock.txt"
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep))
    monkeypatch.setenv("TRAINING_FAKE_NOW", "2030-07-15 10:00:00")
    monkeypatch.setenv("TRAINING_CLOCK_FILE", str(seen))
    monkeypatch.setenv(clock.PIN_VARIABLE, "2030-07-15")  # the kit's clock says 2030 too, until the course pins it
    executed = papermill.execute_notebook(
        str(NOTEBOOK), str(tmp_path / "training_2030.ipynb"), kernel_name="python3",
        cwd=str(NOTEBOOK.parent), progress_bar=False, log_output=False, execution_timeout=600,
        parameters={"show_solutions": True},
    )
    assert seen.read_text(encoding="utf-8").split()[0].startswith("2030-"), "the kernel's clock was not faked"
    printed = printed_text(executed)
    exercises = sorted(training.CHECKERS)
    assert sorted(int(n) for n in PASS.findall(printed)) == exercises, printed[-3000:]
    assert not FAIL.findall(printed)
    assert f"Course date: {training.course_today(SAMPLE_DATA)}" in printed


def test_every_part_fits_one_sitting_and_states_the_models_minutes():
    parts = pacing.part_estimates(NOTEBOOK)
    assert len(parts) >= 6
    assert list(parts["part"]) == list(range(1, len(parts) + 1))
    low, high = pacing.PART_MINUTES
    for row in parts.itertuples():
        assert low <= row.minutes <= high, (row.part, row.title, row.minutes)
        assert row.stated_minutes is not None and abs(row.stated_minutes - row.minutes) <= 2, row
    total = int(parts["minutes"].sum())
    stated = pacing.stated_total_minutes(NOTEBOOK)
    assert stated is not None and abs(stated - total) <= 5, (stated, total)
    # Every exercise sits inside a part, none before Part 1.
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    answers = sum(len(re.findall(r"^answer_\d+ = None\b", c.source, re.MULTILINE))
                  for c in notebook.cells if c.cell_type == "code")
    assert int(parts["exercises"].sum()) == answers == len(training.CHECKERS)


def test_the_pacing_model_reproduces_the_measured_dry_run():
    """The constants are calibrated on issue 17's dry run of the first course: 3,340 words,
    129 code lines, 10 exercises took a new analyst 2.5 to 3 hours."""
    minutes = (3340 / pacing.READING_WORDS_PER_MINUTE + 129 / pacing.CODE_LINES_PER_MINUTE
               + 10 * pacing.MINUTES_PER_EXERCISE)
    assert 150 <= minutes <= 180


def test_the_course_ends_with_a_monday_checklist():
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    (monday,) = [c for c in notebook.cells if c.cell_type == "markdown" and "What to do on Monday" in c.source]
    items = re.findall(r"^\s*\d+\. ", monday.source, re.MULTILINE)
    assert 5 <= len(items) <= 10
    for command in ("hunt", "verdict", "handoff", "export-rule"):
        assert command in monday.source
    assert notebook.cells.index(monday) > max(
        i for i, c in enumerate(notebook.cells) if c.cell_type == "code" and "answer_" in c.source)


@pytest.mark.parametrize("claim", ["about 90 minutes", "Running the whole notebook fills in the model answers",
                                   "The `sort` only decides the order inside the sets", "vendor folder plus SYSTEM"])
def test_the_corrected_claims_are_gone(claim):
    assert claim not in NOTEBOOK.read_text(encoding="utf-8")


@pytest.mark.parametrize("source", ["Changes to Service Host grouping", "make_set()", "Security Contexts for Tasks",
                                    "UltimateAppLockerByPassList", "Bencherchali"])
def test_the_corrections_name_their_sources(source):
    assert source in NOTEBOOK.read_text(encoding="utf-8")
