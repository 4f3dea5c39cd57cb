"""The HTML hunt report: the hunt notebook run headless (papermill), exported by nbconvert.

One self-contained HTML file. A failing cell fails the report with the cell's error in one line,
and the partly executed notebook is kept beside the report for debugging.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from hunting_lib.errors import BadInputError
from hunting_lib.params import HuntParams


def _notebook_dir() -> Path:
    """Where the kit's notebooks are: ``hunting_lib/notebooks``, shipped in the wheel.

    In a checkout that folder is a symlink to the top-level ``notebooks/`` the analysts open (see
    pyproject.toml). A checkout made without symlink support (git on Windows by default) writes the
    link as a small text file instead; the top-level folder is then used directly.
    """
    package = Path(__file__).resolve().parents[1]
    shipped = package / "notebooks"
    checkout = package.parent / "notebooks"
    if not shipped.is_dir() and (package.parent / "pyproject.toml").is_file() and checkout.is_dir():
        return checkout
    return shipped


NOTEBOOKS = _notebook_dir()
HUNT_NOTEBOOK = NOTEBOOKS / "rare_scheduled_tasks_hunt.ipynb"
#: nbconvert templates of the kit; "offline" is JupyterLab's export without CDN scripts.
TEMPLATES = Path(__file__).resolve().parent / "templates"


class ReportError(RuntimeError):
    """The notebook failed; the message names the cell and where the partial notebook is."""


def notebook_parameters(data_dir: str | Path, params: HuntParams, export_dir: Path, date_order: str = "auto",
                        keep_secrets: bool = False) -> dict:
    """The papermill parameters for the hunt notebook, from a ``HuntParams``; ``keep_secrets``:
    show secrets in command lines as they are (``report --keep-secrets``), else redacted."""
    return {
        "data_dir": str(Path(data_dir).resolve()),
        "start": None if params.start is None else params.start.isoformat(),
        "end": None if params.end is None else params.end.isoformat(),
        "threshold": params.threshold,
        "max_devices": params.max_devices,
        "exclusions": "none" if params.exclusions is None else (
            "default" if params.exclusions == "config/exclusions.yaml" else str(Path(params.exclusions).resolve())),
        "known_tasks": "none" if params.known_tasks is None else (
            "default" if params.known_tasks == "config/known_tasks.yaml" else str(Path(params.known_tasks).resolve())),
        "scope": params.scope,
        "match": params.match,
        "export_dir": str(export_dir.resolve()),
        "papermill_run": True,
        "date_order": date_order,
        "keep_secrets": bool(keep_secrets),
        # the hunt history (report --history): the run is recorded there, and the report leads
        # with what changed since the previous run
        "history": None if params.history is None else str(Path(params.history).resolve()),
        "history_lookback_days": params.history_lookback_days,
        "history_overlap_minutes": params.history_overlap_minutes,
    }


_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def stable_ids(html: str) -> str:
    """Replace the random element ids nbconvert and bokeh generate with sequential ones.

    Each distinct id keeps one replacement wherever it appears, so every reference still
    resolves; the same inputs then give the same report body.
    """
    mapping: dict[str, str] = {}

    def replace(match: re.Match) -> str:
        return mapping.setdefault(match.group(0), f"{len(mapping):08x}-0000-4000-8000-000000000000")

    return _UUID.sub(replace, html)


def build_report(
    data_dir: str | Path,
    output: str | Path,
    params: HuntParams | None = None,
    show_code: bool = False,
    notebook: str | Path = HUNT_NOTEBOOK,
    date_order: str = "auto",
    progress_bar: bool | None = None,
    keep_secrets: bool = False,
) -> Path:
    """Run the hunt notebook on ``data_dir`` and write one HTML report to ``output``.

    The report reads as findings, not as code: code cells are left out unless ``show_code``.
    ``progress_bar`` (papermill's, one step per cell) defaults to on only where someone watches a
    terminal (``engine.progress.progress_enabled``); the kernel itself never draws a bar, since
    its output becomes the report. Secrets in command lines are redacted in everything the report
    shows unless ``keep_secrets`` (``report.redact``).
    """
    import papermill

    params = params or HuntParams()
    output = Path(output)
    if output.suffix.lower() not in (".html", ".htm"):
        raise BadInputError(f"--output {output}: the report is HTML; use a .html file name")
    if not Path(data_dir).is_dir():
        raise BadInputError(f"{data_dir}: no such data folder")
    if not Path(notebook).is_file():
        raise ReportError(f"{notebook}: the hunt notebook is missing; this install of hunting_lib does not "
                          f"ship its notebooks (reinstall it from a wheel or an editable checkout)")
    output.parent.mkdir(parents=True, exist_ok=True)
    executed = output.with_suffix(".ipynb")
    from hunting_lib.engine.progress import progress_enabled

    if progress_bar is None:
        progress_bar = progress_enabled()
    # The kernel inherits a fixed hash seed: msticpy builds plot columns from sets, whose order
    # otherwise changes from run to run, and the report body with it. And it draws no progress
    # bar: its output is the report.
    kernel_env = {"PYTHONHASHSEED": "0", "HUNTING_LIB_PROGRESS": "0",
                  # the display helpers' default, should a notebook not pass its keep_secrets on
                  "HUNTING_LIB_KEEP_SECRETS": "1" if keep_secrets else "0"}
    previous = {name: os.environ.get(name) for name in kernel_env}
    os.environ.update(kernel_env)
    try:
        papermill.execute_notebook(
            str(notebook), str(executed),
            parameters=notebook_parameters(data_dir, params, output.parent, date_order, keep_secrets),
            kernel_name="python3", cwd=str(Path(notebook).parent), progress_bar=progress_bar, log_output=False,
            # The kernel logs a TCP notice at start and a KeyboardInterrupt at shutdown: noise.
            extra_arguments=["--IPKernelApp.log_level=CRITICAL"],
        )
    except papermill.PapermillExecutionError as exc:
        detail = " ".join(f"{exc.ename}: {exc.evalue}".split())
        raise ReportError(
            f"cell {exc.exec_count} of {Path(notebook).name} failed ({detail}); "
            f"the partly run notebook is {executed}"
        ) from None
    finally:
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    return notebook_to_html(executed, output, show_code=show_code)


_PATH_ASSIGNMENT = re.compile(r'^(?P<name>\w+) = (?P<quote>["\'])(?P<value>.*)(?P=quote)$', re.MULTILINE)


def local_paths_as_names(source: str) -> str:
    """Papermill's parameter cell with each absolute path shown by its last part (folder or file name).

    The report command passes resolved paths to the kernel (it runs in the notebook's folder);
    the page an analyst shares should not carry their machine's folder layout.
    """
    from hunting_lib.report.tables import short_path

    def shorten(match: re.Match) -> str:
        value = match.group("value")
        if not (value.startswith("/") or re.match(r"^[A-Za-z]:[\\/]", value) or value.startswith("\\\\")):
            return match.group(0)
        return f'{match.group("name")} = {match.group("quote")}{short_path(value, parts=1)}{match.group("quote")}'

    return _PATH_ASSIGNMENT.sub(shorten, source)


def notebook_to_html(executed: str | Path, output: str | Path, show_code: bool = False,
                     hide_code: bool | None = None) -> Path:
    """Write an executed notebook as one offline HTML page (no script from a CDN, stable ids).

    Code cells are left out unless ``show_code``; ``hide_code`` is the older spelling
    (``hide_code=False`` shows the code).
    """
    import nbformat
    from nbconvert import HTMLExporter

    if hide_code is not None:
        show_code = not hide_code
    hide = not show_code
    exporter = HTMLExporter(template_name="offline", extra_template_basedirs=[str(TEMPLATES)],
                            exclude_input=hide, exclude_input_prompt=hide, exclude_output_prompt=hide)
    notebook_node = nbformat.read(executed, as_version=4)
    for index, cell in enumerate(notebook_node.cells):
        cell["id"] = f"cell-{index}"  # papermill gives its injected cell a random id
        if "injected-parameters" in cell.get("metadata", {}).get("tags", []):
            cell["source"] = local_paths_as_names(cell["source"])
    body, _ = exporter.from_notebook_node(notebook_node)
    output = Path(output)
    output.write_text(stable_ids(body), encoding="utf-8")
    return output
