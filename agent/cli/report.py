"""`optimize report RUN -o report.html`: a self-contained HTML report of one run."""

from __future__ import annotations

import argparse
import sys
from typing import Sequence

from agent.cli.common import add_runs_dir, open_store
from agent.report import write_report


def report_main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="optimize report", description="Write an HTML report with plots of one run.")
    parser.add_argument("run", help="run name or id (see `optimize runs`)")
    parser.add_argument("-o", "--output", default="report.html", help="HTML file to write (default: report.html)")
    add_runs_dir(parser)
    args = parser.parse_args(argv)
    store = open_store(args.runs_dir)
    try:
        path = write_report(store, args.run, args.output)
    finally:
        store.close()
    print(f"wrote report of run {args.run} to {path}", file=sys.stderr)
    return 0
