"""`optimize export RUN`: write a run's best ensemble as a pack, a CLIP_benchmark template file or CSV."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

from agent.cli.common import add_runs_dir, open_store
from agent.packs import EXPORT_FORMATS, Pack, pack_from_store, write_export
from agent.report import load_run_details


def export_main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="optimize export", description="Export the best ensemble of a run.")
    parser.add_argument("run", help="run name or id (see `optimize runs`)")
    parser.add_argument("--format", default="pack", choices=EXPORT_FORMATS, help="pack: JSON prompt pack; clip-benchmark: CLIP_benchmark --custom_template_file; csv: one row per class prompt (default: pack)")
    parser.add_argument("-o", "--output", required=True, help="file to write")
    parser.add_argument("--benchmark-dataset", default=None, help="dataset key of the clip-benchmark file, as CLIP_benchmark names the dataset (default: the run's dataset file name)")
    add_runs_dir(parser)
    args = parser.parse_args(argv)
    store = open_store(args.runs_dir)
    try:
        run = load_run_details(store, args.run).run
        pack = Pack.from_dict(pack_from_store(store, run), f"run {run['name']!r}")
    finally:
        store.close()
    dataset_name = args.benchmark_dataset or Path(run["dataset"]).stem
    path = write_export(pack, args.output, args.format, dataset_name=dataset_name)
    print(f"wrote {args.format} export of run {run['name']} to {path}", file=sys.stderr)
    return 0
