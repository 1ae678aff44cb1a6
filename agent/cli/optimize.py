"""`optimize --dataset X`: run the optimizer and print baseline and optimized accuracy."""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Sequence

from agent.candidates import KINDS
from agent.cli.progress import Progress
from agent.data import load_dataset
from agent.llm import DEFAULT_LLM
from agent.optimizer import Settings
from agent.runner import DEFAULT_RUNS_DIR, RunResult, run_optimizer
from agent.ensemble import METHODS
from agent.scoring import DEFAULT_FITNESS, FITNESS_FUNCTIONS


def build_parser(subcommands: dict[str, str]) -> argparse.ArgumentParser:
    epilog = "subcommands:\n" + "\n".join(f"  optimize {name:<8} {text}" for name, text in subcommands.items())
    parser = argparse.ArgumentParser(
        prog="optimize",
        description="Optimize zero-shot classifier prompts without labels.",
        epilog=epilog if subcommands else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    data = parser.add_argument_group("dataset")
    data.add_argument("--dataset", required=True, help="CSV/TSV/JSONL file, image folder, .npz, 'demo', 'digits' or torchvision:NAME")
    data.add_argument("--text-column", default="text", help="column holding the texts (default: text)")
    data.add_argument("--label-column", default=None, help="column holding labels, used only for evaluation (default: label, when present)")
    data.add_argument("--classes", default=None, help="comma-separated class names, in order (default: distinct labels, sorted)")
    data.add_argument("--classes-file", default=None, help="file with one class name per line")
    data.add_argument("--description", default=None, help="one line describing the inputs, sent to the LLM (e.g. 'news headlines')")
    data.add_argument("--max-inputs", type=int, default=None, help="score on a seeded random subset of this many inputs (default: all)")
    data.add_argument("--strict", action="store_true", help="reject the dataset when any image is unreadable instead of skipping it")
    model = parser.add_argument_group("models")
    model.add_argument("--target", default=None, help="encoder: st:MODEL, clip:ARCH/PRETRAINED, clip:ARCH/path/to/weights.pt or clip:ARCH/random "
                       "(default: st:all-MiniLM-L6-v2 for texts, clip:ViT-B-32/openai for images)")
    model.add_argument("--llm", default=DEFAULT_LLM, help="'local' (bundled SmolLM2), local:/path.gguf, replay:FILE or a LiteLLM model string (default: local)")
    model.add_argument("--device", default=None, help="torch device for the encoder: cuda, mps or cpu (default: the first available)")
    loop = parser.add_argument_group("optimizer")
    loop.add_argument("--steps", type=int, default=3, help="optimization steps after the baselines (default: 3)")
    loop.add_argument("--candidates-per-step", type=int, default=4, help="candidates asked of the LLM per kind and step (default: 4)")
    loop.add_argument("--kinds", default=",".join(KINDS), help=f"candidate kinds to propose, comma-separated (default: {','.join(KINDS)})")
    loop.add_argument("--fitness", default=DEFAULT_FITNESS, choices=sorted(FITNESS_FUNCTIONS), help=f"label-free fitness (default: {DEFAULT_FITNESS})")
    loop.add_argument("--ensemble", default="greedy", choices=sorted(METHODS), help="how scored candidates are combined (default: greedy)")
    loop.add_argument("--no-seed-templates", action="store_true", help="skip the generic hand-written templates scored at step 0")
    loop.add_argument("--no-class-guard", action="store_true", help="keep renamings and descriptions even when they are nearer another class's name")
    loop.add_argument("--seed", type=int, default=0, help="seed for every random choice (default: 0)")
    store = parser.add_argument_group("storage")
    store.add_argument("--runs-dir", default=DEFAULT_RUNS_DIR, help="folder of the history database, caches and packs (default: runs)")
    store.add_argument("--run", default=None, help="run name (default: dataset name and time)")
    store.add_argument("--resume", action="store_true", help="continue the run named by --run")
    store.add_argument("--quiet", action="store_true", help="print only the final results")
    store.add_argument("--verbose", action="store_true", help="log every step and LLM failure")
    return parser


def optimize_main(argv: Sequence[str], subcommands: dict[str, str] | None = None) -> int:
    args = build_parser(subcommands or {}).parse_args(argv)
    if args.verbose:
        logging.getLogger("agent").setLevel(logging.INFO)
    dataset = load_dataset(
        args.dataset, classes=args.classes, classes_file=args.classes_file, text_column=args.text_column,
        label_column=args.label_column, description=args.description, max_inputs=args.max_inputs,
        seed=args.seed, strict=args.strict,
    )
    settings = Settings(
        steps=args.steps, candidates_per_step=args.candidates_per_step, seed=args.seed, fitness=args.fitness,
        ensemble=args.ensemble, seed_templates=not args.no_seed_templates, class_guard=not args.no_class_guard,
        kinds=tuple(kind.strip() for kind in args.kinds.split(",") if kind.strip()),
    )
    progress = Progress(enabled=not args.quiet)
    print(f"dataset {dataset.name}: {len(dataset)} inputs, {len(dataset.class_names)} classes", file=sys.stderr)
    try:
        result = run_optimizer(
            dataset, target=args.target, llm=args.llm, settings=settings, runs_dir=args.runs_dir,
            run=args.run, resume=args.resume, device=args.device, on_event=progress,
        )
    finally:
        progress.close()
    print_result(result)
    if result.llm_steps and result.failed_steps == result.llm_steps:
        print(
            f"error: every LLM request failed in all {result.llm_steps} steps, so the pack holds only the baselines "
            f"and seed templates; `optimize show {result.run_name}` lists the errors, check --llm and its API key",
            file=sys.stderr,
        )
        return 1
    return 0


def print_result(result: RunResult) -> None:
    print(f"run {result.run_name}: best fitness {result.best_fitness:.4f}")
    if result.evaluations:
        print(f"{'classifier':<18} {'accuracy':>9} {'balanced':>9}")
        for evaluation in result.evaluations:
            print(f"{evaluation['name']:<18} {evaluation['accuracy']:>9.4f} {evaluation['balanced_accuracy']:>9.4f}")
    else:
        print("no labels: accuracy not reported")
    print(f"pack: {result.pack_path}")
    print(f"history: {result.database}")
