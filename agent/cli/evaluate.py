"""`optimize eval --pack FILE --dataset X`: accuracy of a pack on a labelled dataset."""

from __future__ import annotations

import argparse
import json
from typing import Sequence

from agent.data import load_dataset
from agent.packs import load_pack


def eval_main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="optimize eval", description="Measure a pack's accuracy on a labelled dataset.")
    parser.add_argument("--pack", required=True, help="pack file written by `optimize export` or a run")
    parser.add_argument("--dataset", required=True, help="labelled dataset: CSV/TSV/JSONL file, image source or 'demo'")
    parser.add_argument("--text-column", default="text", help="column holding the texts (default: text)")
    parser.add_argument("--label-column", default=None, help="column holding the labels (default: label)")
    parser.add_argument("--max-inputs", type=int, default=None, help="evaluate on a seeded random subset of this many inputs (default: all)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the --max-inputs subset (default: 0)")
    parser.add_argument("--target", default=None, help="encoder to build the head with (default: the pack's target)")
    parser.add_argument("--device", default=None, help="torch device: cuda, mps or cpu (default: the first available)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args(argv)
    pack = load_pack(args.pack)
    dataset = load_dataset(
        args.dataset, classes=list(pack.class_names), text_column=args.text_column,
        label_column=args.label_column, max_inputs=args.max_inputs, seed=args.seed,
    )
    evaluation = pack.evaluate_dataset(dataset, model=args.target, device=args.device)
    if args.json:
        print(json.dumps(evaluation.as_dict(), indent=2))
        return 0
    print(f"pack {args.pack} on {dataset.name} ({evaluation.inputs} inputs)")
    print(f"accuracy           {evaluation.accuracy:.4f}")
    print(f"balanced accuracy  {evaluation.balanced_accuracy:.4f}")
    print("recall per class:")
    for name, recall in evaluation.per_class_recall.items():
        print(f"  {name:<24} {recall:.4f}")
    return 0
