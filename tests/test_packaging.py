"""The wheel: built from the checkout, installed in a fresh virtual environment, and run there.

An editable install reads everything from the checkout, so it hides files the wheel forgets to
ship (the hunt notebook did: ``report`` broke outside the checkout). Here the wheel is built from
a copy of the package, installed without its dependencies into a new virtual environment that
borrows them from this one, and ``hunting-lib hunt`` and ``hunting-lib report`` run from a folder
outside the checkout. Slow (a wheel build and a headless notebook, about two minutes); it runs in
``make test`` like every other test.

``python -m venv --system-site-packages`` is not enough to borrow the dependencies: run from a
virtual environment it exposes the *base* interpreter's site-packages, not this one's. A .pth file
listing this environment's site-packages does it, and it adds only the folders: the .pth files in
them, among them the editable install's finder for the checkout, are not read. JUPYTER_PATH points
at this environment's share/jupyter for the same reason.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import nbformat
import pytest

from tests.conftest import PINNED_TODAY, REPO, SAMPLE_DATA

#: What the wheel is built from: the files pyproject.toml packages (the build copies them).
SOURCES = ("pyproject.toml", "README.md", "hunting_lib", "notebooks")
NOTEBOOKS = ("rare_scheduled_tasks_hunt.ipynb", "training_rare_scheduled_tasks.ipynb")


def _run(args, cwd: Path, env: dict | None = None, timeout: int = 900) -> subprocess.CompletedProcess:
    return subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def _checked(result: subprocess.CompletedProcess, what: str) -> subprocess.CompletedProcess:
    assert result.returncode == 0, f"{what}: exit {result.returncode}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


class Installed:
    def __init__(self, root: Path, venv: Path, env: dict, data: Path, work: Path):
        self.root, self.venv, self.env, self.data, self.work = root, venv, env, data, work
        self.bin = venv / ("Scripts" if os.name == "nt" else "bin")
        self.python = self.bin / ("python.exe" if os.name == "nt" else "python")

    def python_c(self, code: str) -> str:
        return _checked(_run([self.python, "-c", code], self.work, self.env), code).stdout.strip()

    def hunting_lib(self, *args) -> subprocess.CompletedProcess:
        return _run([self.bin / "hunting-lib", *args], self.work, self.env)


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Installed:
    root = tmp_path_factory.mktemp("packaging")
    source = root / "source"
    source.mkdir()
    for name in SOURCES:
        item = REPO / name
        if item.is_dir():
            # symlinks=True keeps hunting_lib/notebooks a link, as git stores it.
            shutil.copytree(item, source / name, symlinks=True,
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc", ".ipynb_checkpoints"))
        else:
            shutil.copy2(item, source / name)
    dist = root / "dist"
    # Build isolation: pyproject.toml asks for a newer setuptools than the one in .venv.
    _checked(_run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "--wheel-dir", dist, source], root),
             "pip wheel")
    wheels = sorted(dist.glob("hunting_lib-*.whl"))
    assert len(wheels) == 1, wheels

    venv = root / "venv"
    _checked(_run([sys.executable, "-m", "venv", "--without-pip", venv], root), "python -m venv")
    python = venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    new_site = Path(_checked(_run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], root),
                             "purelib").stdout.strip())
    ours = dict.fromkeys([sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]])
    (new_site / "borrowed_dependencies.pth").write_text("".join(f"{p}\n" for p in ours), encoding="utf-8")
    _checked(_run([sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "--quiet", wheels[0]],
                  root), "pip install")

    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "JUPYTER_PATH", "VIRTUAL_ENV")}
    env["PATH"] = os.pathsep.join([str(python.parent), env.get("PATH", "")])
    env["VIRTUAL_ENV"] = str(venv)
    env["HUNTING_LIB_TODAY"] = PINNED_TODAY
    # The borrowed packages' data files (nbconvert's "lab" template, ipykernel's kernel.json) are
    # under this environment's prefix, which the new one does not search.
    env["JUPYTER_PATH"] = str(Path(sys.prefix) / "share" / "jupyter")
    work = root / "work"  # outside the checkout: nothing of it on sys.path
    work.mkdir()
    data = work / "data"
    shutil.copytree(SAMPLE_DATA, data)
    return Installed(root, venv, env, data, work)


def test_the_wheel_installs_the_package_not_the_checkout(installed):
    location = Path(installed.python_c("import hunting_lib; print(hunting_lib.__file__)")).resolve()
    assert location.is_relative_to(installed.venv.resolve()), location
    assert not location.is_relative_to(REPO.resolve()), location
    package = location.parent
    for name in NOTEBOOKS:  # the build copied the notebooks the symlink points to
        shipped = package / "notebooks" / name
        assert shipped.is_file() and not shipped.is_symlink(), shipped
        assert nbformat.read(shipped, as_version=4) == nbformat.read(REPO / "notebooks" / name, as_version=4)
    assert (package / "report" / "templates" / "offline" / "index.html.j2").is_file()
    assert Path(installed.python_c("from hunting_lib.report.runner import HUNT_NOTEBOOK; print(HUNT_NOTEBOOK)")
                ).resolve() == (package / "notebooks" / NOTEBOOKS[0]).resolve()
    # The report's kernel (papermill asks for "python3") is the new environment's interpreter
    # (jupyter_client runs a kernel.json's "python" as its own interpreter).
    kernel = installed.python_c("from jupyter_client.kernelspec import KernelSpecManager; "
                                "print(KernelSpecManager().get_kernel_spec('python3').argv[0])")
    assert Path(kernel).resolve() == installed.python.resolve() or kernel == "python", kernel


def test_the_installed_hunt_finds_what_the_checkout_finds(installed):
    out = installed.work / "x.json"
    _checked(installed.hunting_lib("hunt", "--data-dir", installed.data, "--output", out), "installed hunt")
    ours = installed.work / "checkout.json"
    _checked(_run([sys.executable, "-m", "hunting_lib", "hunt", "--data-dir", installed.data, "--output", ours],
                  installed.work, {**installed.env, "PATH": os.environ.get("PATH", "")}), "checkout hunt")
    theirs, expected = json.loads(out.read_text()), json.loads(ours.read_text())
    assert len(expected["rare_tasks"]) >= 10 and any(t["SuppressedBy"] for t in expected["rare_tasks"])
    assert theirs["rare_tasks"] == expected["rare_tasks"]
    assert theirs["activity"] == expected["activity"] and expected["activity"]


def _section_titles(notebook: Path) -> list[str]:
    cells = nbformat.read(notebook, as_version=4).cells
    return [m.group(1).strip() for c in cells if c.cell_type == "markdown"
            for m in re.finditer(r"^#{1,3} +(.+)$", c.source, re.M)]


def test_the_installed_report_runs_the_shipped_notebook(installed):
    out = installed.work / "r.html"
    result = _checked(installed.hunting_lib("report", "--data-dir", installed.data, "--output", out),
                      "installed report")
    assert f"wrote {out}" in result.stdout
    html = out.read_text(encoding="utf-8")
    titles = _section_titles(REPO / "notebooks" / NOTEBOOKS[0])
    assert len(titles) >= 10 and "Hypothesis" in titles
    for title in titles:
        assert title.replace("&", "&amp;") in html, title
    # The findings the notebook exports beside the report are the hunt's own.
    findings = json.loads((installed.work / "findings.json").read_text())
    assert len(findings["rare_tasks"]) >= 10
    executed = nbformat.read(out.with_suffix(".ipynb"), as_version=4)
    assert not any(o.get("output_type") == "error" for c in executed.cells for o in c.get("outputs", []))
