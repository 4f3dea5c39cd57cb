"""The progress bar helper: on only where someone watches it."""

from __future__ import annotations

import io
import sys

from hunting_lib.engine import progress as progress_module
from hunting_lib.engine.progress import progress, progress_enabled


def test_quiet_under_pytest(monkeypatch):
    monkeypatch.delenv("HUNTING_LIB_PROGRESS", raising=False)
    assert not progress_enabled()


def test_env_forces_either_way(monkeypatch):
    monkeypatch.setenv("HUNTING_LIB_PROGRESS", "1")
    assert progress_enabled()
    monkeypatch.setenv("HUNTING_LIB_PROGRESS", "0")
    monkeypatch.delenv("PYTEST_CURRENT_TEST", raising=False)
    assert not progress_enabled()


def test_items_pass_through_whether_or_not_a_bar_draws(monkeypatch):
    monkeypatch.setenv("HUNTING_LIB_PROGRESS", "0")
    assert list(progress(range(5), "x")) == [0, 1, 2, 3, 4]
    monkeypatch.setenv("HUNTING_LIB_PROGRESS", "1")
    captured = io.StringIO()
    monkeypatch.setattr(sys, "stderr", captured)
    assert list(progress(iter(range(5)), "loading", total=5)) == [0, 1, 2, 3, 4]
    assert "loading" in captured.getvalue()


def test_no_bar_without_terminal(monkeypatch):
    monkeypatch.delenv("HUNTING_LIB_PROGRESS", raising=False)
    monkeypatch.delenv("PYTEST_CURRENT_TEST", raising=False)
    monkeypatch.setattr(progress_module, "_in_notebook_kernel", lambda: False)
    monkeypatch.setattr(sys, "stderr", io.StringIO())  # not a tty: a log or a pipe
    assert not progress_enabled()
