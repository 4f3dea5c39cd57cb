"""The parquet scan in a process of its own, started before the ``hunt`` command imports pandas.

The scan (``engine.scan``) needs polars and no pandas. Started in a child process at start-up,
it reads the folder while the parent imports pandas and the library, so the two imports and
the reading use both cores. Measured with ``make bench`` at 10M events (BENCHMARKS.md), this
saves about 0.5 s of a 2.5 s hunt (the layer is kept only while it saves more than 0.3 s).
The child hands its rows over as Arrow IPC files, which pyarrow turns into pandas exactly as it
does for ``pandas.read_parquet``.

The child never swallows a failure: it writes the reason for the parent, which raises it
(``NotApplicable`` or ``ScanFailed``) so that ``fast_load.load_for_hunt`` records why it fell back.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import warnings
from dataclasses import asdict
from pathlib import Path

from hunting_lib.engine.scan import NotApplicable, ScanRequest, ScanResult, scan_parquet_folder
from hunting_lib.errors import BadInputError

_REASON = "reason.txt"


class ScanFailed(Exception):
    """The scan raised an unexpected error in the child process (its reason is the message)."""



_MANIFEST = "scan.json"


def _write(scanned: ScanResult, out_dir: Path) -> None:
    for table, rows in scanned.rows.items():  # polars writes Arrow IPC without importing pyarrow
        rows.write_ipc(out_dir / f"{table}.arrow", compression="uncompressed")
    manifest = {"files": {t: str(p) for t, p in scanned.files.items()}, "tables": sorted(scanned.rows),
                "fleet": scanned.fleet}
    (out_dir / _MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")


def _read(out_dir: Path) -> ScanResult:
    import pyarrow.feather as feather

    manifest = json.loads((out_dir / _MANIFEST).read_text(encoding="utf-8"))
    rows = {t: feather.read_table(out_dir / f"{t}.arrow", memory_map=False) for t in manifest["tables"]}
    return ScanResult({t: Path(p) for t, p in manifest["files"].items()}, rows, manifest.get("fleet", {}))


class EarlyScan:
    """The scan running in a process of its own, started before the caller imports pandas.

    On Linux, when the caller has a single thread and has not loaded polars yet (the ``hunt``
    command at start-up: the standard library, PyYAML and this package), the process is a fork
    of it, which skips an interpreter start and exits without tearing one down. A fork of a
    process with other threads (polars' pool, say) can deadlock on a lock one of them held, so
    otherwise, and on other systems, it is ``python -m hunting_lib.engine.early_scan``.
    """

    def __init__(self, data_dir: Path, request: ScanRequest) -> None:
        self.data_dir, self.request = Path(data_dir), request
        self._out = Path(tempfile.mkdtemp(prefix="hunting-lib-scan-"))
        self._pid: int | None = None
        self._process: subprocess.Popen | None = None
        if sys.platform == "linux" and threading.active_count() == 1 and "polars" not in sys.modules:
            sys.stdout.flush()
            sys.stderr.flush()
            self._pid = os.fork()
            if self._pid == 0:  # the child: scan, write, and leave without running any cleanup
                code = 1
                try:
                    code = _scan_to(self.data_dir, self._out, request)
                finally:
                    os._exit(code)
        else:
            command = [sys.executable, "-m", "hunting_lib.engine.early_scan", str(self.data_dir), str(self._out),
                       json.dumps(asdict(request))]
            quiet = None if os.environ.get("HUNTING_LIB_DEBUG") else subprocess.DEVNULL
            self._process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=quiet)

    def _wait(self) -> int:
        if self._process is not None:
            return self._process.wait()
        _, status = os.waitpid(self._pid, 0)
        self._pid = None  # collected: its number may belong to another process from now on
        return os.waitstatus_to_exitcode(status)

    def result(self, data_dir: Path, request: ScanRequest) -> ScanResult | None:
        """The scan's rows if it ran for this folder and request; None if it scanned for other
        ones. Raises ``NotApplicable`` (status 3) or ``ScanFailed`` with the child's reason."""
        try:
            status = self._wait()
            if Path(data_dir) != self.data_dir or request != self.request:
                return None
            if status == 0:
                return _read(self._out)
            reason_file = self._out / _REASON
            reason = reason_file.read_text(encoding="utf-8") if reason_file.exists() else f"exit status {status}"
            raise (NotApplicable if status == 3 else ScanFailed)(reason)
        finally:
            self.close()

    def close(self) -> None:
        """Stop the child if it still runs (the caller failed first) and remove its files."""
        if self._out.exists():
            if self._process is not None and self._process.poll() is None:
                self._process.kill()
                self._process.wait()
            elif self._pid is not None:
                os.kill(self._pid, signal.SIGKILL)
                self._wait()
            shutil.rmtree(self._out, ignore_errors=True)


def start_scan(data_dir: Path, request: ScanRequest) -> EarlyScan:
    """Start scanning ``data_dir`` in a child process; ``load_for_hunt(..., early=...)`` collects it."""
    return EarlyScan(data_dir, request)


def _scan_to(data_dir: Path, out_dir: Path, request: ScanRequest) -> int:
    """The child's side: 0 with the rows written to ``out_dir``; 3 when the scan does not apply
    and 1 when it failed, each with the reason written for the parent (``EarlyScan.result``),
    which then reads the folder itself and says why."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the parent's loader speaks for the data
            _write(scan_parquet_folder(data_dir, request), out_dir)
    except (NotApplicable, BadInputError) as why:  # the parent's loader words bad input
        (out_dir / _REASON).write_text(str(why), encoding="utf-8")
        return 3
    except Exception as error:
        if os.environ.get("HUNTING_LIB_DEBUG"):
            raise
        (out_dir / _REASON).write_text(f"{type(error).__name__}: {' '.join(str(error).split())[:200]}",
                                       encoding="utf-8")
        return 1
    return 0


def _main(argv: list[str]) -> int:
    """``python -m hunting_lib.engine.early_scan DATA_DIR OUT_DIR REQUEST_JSON`` (where there is no fork)."""
    parser = argparse.ArgumentParser(prog="python -m hunting_lib.engine.early_scan")
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("request")
    args = parser.parse_args(argv)
    request = json.loads(args.request)
    request["parent_command_lines"] = tuple(request["parent_command_lines"])
    return _scan_to(args.data_dir, args.out_dir, ScanRequest(**request))


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
