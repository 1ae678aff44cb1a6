"""`optimize show RUN`: the best ensemble, top and bottom candidates and LLM usage of one run."""

from __future__ import annotations

import argparse
from typing import Sequence

from agent.cli.common import add_runs_dir, number, open_store
from agent.report import RunDetails, load_run_details


def show_main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="optimize show", description="Show one run's best ensemble, candidates and LLM usage.")
    parser.add_argument("run", help="run name or id (see `optimize runs`)")
    parser.add_argument("--top", type=int, default=5, help="how many best and worst candidates to list (default: 5)")
    add_runs_dir(parser)
    args = parser.parse_args(argv)
    store = open_store(args.runs_dir)
    try:
        details = load_run_details(store, args.run)
    finally:
        store.close()
    print_details(details, max(0, args.top))
    return 0


def print_details(details: RunDetails, top: int) -> None:
    summary = details.summary
    print(f"run {summary['name']} ({summary['status']}): {summary['dataset']}, target {summary['target_id']}, LLM {summary['llm_id']}")
    print(f"fitness {summary['fitness_name']}: best {number(summary['best_fitness'])}; seed {summary['seed']}")
    print(
        f"LLM calls: {summary['llm_calls']}, tokens: {summary['prompt_tokens'] or 0} prompt, "
        f"{summary['completion_tokens'] or 0} completion"
    )
    for name, evaluation in details.evaluations.items():
        print(f"accuracy {name}: {number(evaluation['accuracy'])} (balanced {number(evaluation['balanced_accuracy'])})")
    print("\nbest ensemble (weight, fitness alone, kind, candidate):")
    for member in details.members:
        print(f"  {member['weight']:>4.0f}  {number(member['candidate_fitness'])}  {member['kind']:<12} {member['text']}")
    ranked = details.ranked()
    print(f"\ntop {min(top, len(ranked))} candidates (step, fitness, kind, candidate):")
    for row in ranked[:top]:
        print(f"  {row['step']:>3}  {number(row['fitness'])}  {row['kind']:<12} {row['text']}")
    bottom = ranked[-top:][::-1] if top and len(ranked) > top else []
    print(f"\nbottom {len(bottom)} candidates:")
    for row in bottom:
        print(f"  {row['step']:>3}  {number(row['fitness'])}  {row['kind']:<12} {row['text']}")
