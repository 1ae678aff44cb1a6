"""`optimize runs`: a table of the runs in the history database."""

from __future__ import annotations

import argparse
import json
from typing import Sequence

from agent.cli.common import add_runs_dir, number, open_store


def runs_main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="optimize runs", description="List the runs in the history database.")
    add_runs_dir(parser)
    parser.add_argument("--json", action="store_true", help="print the runs as a JSON list instead of a table")
    args = parser.parse_args(argv)
    store = open_store(args.runs_dir)
    try:
        summaries = store.run_summaries()
    finally:
        store.close()
    if args.json:
        print(json.dumps(summaries, indent=2))
        return 0
    if not summaries:
        print("no runs yet")
        return 0
    print(f"{'run':<32} {'status':<9} {'dataset':<20} {'target':<24} {'steps':>7} {'fitness':>8} {'accuracy':>8}")
    for row in summaries:
        steps = f"{'-' if row['last_step'] is None else row['last_step']}/{row['planned_steps']}"
        print(
            f"{row['name']:<32} {row['status']:<9} {row['dataset'][:20]:<20} {row['target_id'][:24]:<24} "
            f"{steps:>7} {number(row['best_fitness']):>8} {number(row['accuracy']):>8}"
        )
    return 0
