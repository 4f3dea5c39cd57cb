"""Secret redaction's cost: per distinct command line, and on hostile text (linear, never worse).

    python benchmarks/redact_bench.py [--data-dir sample_data] [--size 200000]

Prints, for the data folder's distinct command lines, the time per line; then, for each hostile
shape (a rule's prefix repeated, unclosed quotes, a huge URL), the time at ``size`` and at twice
``size``: a linear rule doubles, a backtracking one would quadruple or worse.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd

from hunting_lib.engine.files import find_table_files
from hunting_lib.engine.loader import load_table
from hunting_lib.report.redact import redact_series, redact_text

COMMAND_COLUMNS = ["ProcessCommandLine", "InitiatingProcessCommandLine"]

#: Text shapes aimed at each rule's prefix: the rule finds its start many times over.
HOSTILE = {
    "net use": lambda n: "net use " * (n // 8),
    "net use share": lambda n: "net use \\\\a " * (n // 12),
    "/user:": lambda n: "/user:" * (n // 6) + "x",
    "-u x -p": lambda n: " -u x -p" * (n // 8),
    "unclosed quote": lambda n: 'net use /user:x "' + "a" * n,
    "url userinfo": lambda n: "https://" + "a" * (n // 2) + ":" + "b" * (n // 2),
    "SecureString": lambda n: "ConvertTo-SecureString -Force" * (n // 29),
    "Authorization": lambda n: "Authorization: Bearer " * (n // 22),
    "password=": lambda n: "password=" * (n // 9),
    "mysql -p": lambda n: "mysql -p" * (n // 8),
    "curl -u": lambda n: "curl -u " * (n // 16) + "a" * (n // 2),
    "plain": lambda n: "x" * n,
}


def distinct_command_lines(data_dir: Path) -> pd.Series:
    values = []
    for table, path in find_table_files(data_dir).items():
        frame = load_table(path, table, COMMAND_COLUMNS)
        values += [frame[c].dropna().unique() for c in COMMAND_COLUMNS if c in frame]
    return pd.Series(pd.unique(pd.Series([v for part in values for v in part], dtype=object)), dtype=object)


def _seconds(function, *args) -> float:
    start = time.perf_counter()
    function(*args)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=Path("sample_data"))
    parser.add_argument("--size", type=int, default=200_000)
    args = parser.parse_args()
    lines = distinct_command_lines(args.data_dir)
    seconds = _seconds(redact_series, lines)
    print(f"{len(lines):,} distinct command lines in {args.data_dir.name}: {seconds:.3f} s "
          f"({seconds / max(len(lines), 1) * 1e6:.1f} us per line)")
    print(f"{'hostile text':<16} {'size':>10} {'seconds':>8} {'x2 size':>8} {'ratio':>6}")
    for name, make in HOSTILE.items():
        once, twice = _seconds(redact_text, make(args.size)), _seconds(redact_text, make(2 * args.size))
        print(f"{name:<16} {args.size:>10,} {once:>8.3f} {twice:>8.3f} {twice / max(once, 1e-9):>6.1f}")


if __name__ == "__main__":
    main()
