"""Benchmark the optimizer against published prompt methods, side by side, in one process.

For every dataset the input features are encoded once (and cached on disk), then each
method builds a class matrix and is evaluated on the same features:

1. class names alone; 2. one plain template; 3. this project's hand-written templates;
4. CuPL-style LLM sentences, averaged; 5. DCLIP-style descriptors (mean similarity);
6. WaffleCLIP-style random descriptors over several seeds; 7. ZPE weights over the pool
of 3 and 4; 8. the optimizer at its default settings over several seeds.

Labels are read only by `agent.evaluate`. LLM replies for rows 4 and 5 are cached on disk,
so a rerun reports them as cached calls; the optimizer's calls always run live.

Run from the repository root:

    python -m benchmarks.compare --text-dir DATA/text --llm local
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from agent.data import Dataset, load_dataset
from agent.errors import AgentError
from agent.evaluate import evaluate_classifier
from agent.features import FeatureCache
from agent.llm import LLM, resolve_llm
from agent.optimizer import PLAIN_TEMPLATES, Settings
from agent.runner import run_optimizer
from agent.store import Store
from agent.targets import Target, resolve_target
from benchmarks import baselines
from benchmarks.handwritten import TASK_DESCRIPTIONS, TEMPLATES
from benchmarks.llm_cache import CachedLLM, Usage

logger = logging.getLogger("benchmarks.compare")

METHODS = (
    "class names",
    "single template",
    "hand-written templates",
    "CuPL (LLM sentences, averaged)",
    "DCLIP (LLM descriptors)",
    "WaffleCLIP (random descriptors)",
    "ZPE (weights over 3 + 4)",
    "optimizer (defaults)",
)


@dataclass
class MethodResult:
    """One method's accuracies (one per seed) and its cost, summed over its runs."""

    method: str
    accuracies: list[float]
    balanced_accuracies: list[float]
    usage: Usage
    wall_s: float
    note: str = ""

    @property
    def runs(self) -> int:
        return len(self.accuracies)


@dataclass
class DatasetReport:
    """Every method's result on one dataset with the subset and timing it was measured on."""

    name: str
    source: str
    inputs: int
    rows: int
    class_names: tuple[str, ...]
    task: str | None
    features_cached: bool
    feature_s: float
    results: list[MethodResult] = field(default_factory=list)
    optimizer_members: list[str] = field(default_factory=list)
    wall_s: float = 0.0


@dataclass
class Bench:
    """The options, encoder, caches and LLM that every dataset of one run shares."""

    options: argparse.Namespace
    target: Target
    cache: FeatureCache
    llm: LLM
    cached_llm: CachedLLM
    stamp: str

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        return self.cache.text_embeddings(self.target, list(texts))


def dataset_name(path: Path) -> str:
    """Return the folder name for split files such as `ag_news/test.csv`, else the file stem."""
    return path.parent.name if path.stem in {"test", "dev", "train"} else path.stem


def load_benchmark_dataset(path: Path, options: argparse.Namespace) -> tuple[Dataset, int]:
    """Load a seeded subset with the set's task description; returns it and the full row count."""
    task = TASK_DESCRIPTIONS.get(dataset_name(path))
    full = load_dataset(path, description=task)
    return full.subset(options.max_inputs, options.subset_seed), len(full)


def run_dataset(bench: Bench, path: Path) -> DatasetReport:
    """Measure every method on one dataset, encoding its inputs once."""
    started = time.perf_counter()
    dataset, rows = load_benchmark_dataset(path, bench.options)
    encoded_before = bench.cache.encoded_inputs
    features = bench.cache.input_features(bench.target, dataset)
    report = DatasetReport(
        name=dataset_name(path), source=str(path), inputs=len(dataset), rows=rows,
        class_names=dataset.class_names, task=dataset.description,
        features_cached=bench.cache.encoded_inputs == encoded_before, feature_s=time.perf_counter() - started,
    )
    logger.info("%s: %d of %d inputs, %d classes, features in %.1f s", report.name, len(dataset), rows,
                len(dataset.class_names), report.feature_s)

    def evaluate(matrix: np.ndarray) -> tuple[float, float]:
        result = evaluate_classifier("benchmark", features, matrix, dataset.labels, dataset.class_names)
        return result.accuracy, result.balanced_accuracy

    limit = bench.options.max_llm_classes
    if limit is not None and len(dataset.class_names) > limit:
        reason = f"skipped: {len(dataset.class_names)} classes exceed --max-llm-classes {limit}"
        logger.warning("%s: LLM rows %s", report.name, reason)
        report.results = baseline_results(bench, dataset, features, evaluate, skip_llm=reason)
        report.results.append(MethodResult(METHODS[7], [], [], Usage(), 0.0, reason))
    else:
        report.results = baseline_results(bench, dataset, features, evaluate)
        optimizer, members = optimizer_result(bench, dataset, report.name)
        report.results.append(optimizer)
        report.optimizer_members = members
    report.wall_s = time.perf_counter() - started
    return report


def measure(method: str, build: Callable[[], tuple[np.ndarray, Usage, str]], evaluate) -> MethodResult:
    """Time building one class matrix (LLM calls and embeddings included) and evaluate it."""
    started = time.perf_counter()
    matrix, usage, note = build()
    wall = time.perf_counter() - started
    accuracy, balanced = evaluate(matrix)
    logger.info("  %-32s accuracy %.4f  balanced %.4f  %.1f s", method, accuracy, balanced, wall)
    return MethodResult(method, [accuracy], [balanced], usage, wall, note)


def baseline_results(
    bench: Bench, dataset: Dataset, features: np.ndarray, evaluate, skip_llm: str | None = None
) -> list[MethodResult]:
    """Rows 1 to 7; ZPE reuses the CuPL sentences generated for row 4.

    With `skip_llm` set, rows 4, 5 and 7 are not run and carry that reason as their note.
    """
    options, names, modality = bench.options, dataset.class_names, dataset.modality
    templates = TEMPLATES[modality]
    embed = bench.embed
    generated: dict[str, object] = {}

    def prompts_matrix(prompt_lists) -> np.ndarray:
        return baselines.mean_embedding_matrix(baselines.embed_prompt_lists(embed, prompt_lists))

    def cupl() -> tuple[np.ndarray, Usage, str]:
        sentences, usage = baselines.generate_cupl(
            bench.cached_llm, names, modality, dataset.description,
            per_call=options.cupl_sentences, samples=options.cupl_samples, questions=options.cupl_questions,
        )
        generated["cupl"], generated["cupl_usage"] = sentences, usage
        count = sum(len(group) for groups in sentences.values() for group in groups)
        return prompts_matrix(baselines.flatten_cupl(sentences, names)), usage, f"{count} sentences"

    def dclip() -> tuple[np.ndarray, Usage, str]:
        descriptors, usage = baselines.generate_descriptors(
            bench.cached_llm, names, modality, dataset.description, count=options.descriptors
        )
        prompts = baselines.descriptor_prompts(descriptors, names)
        matrix = baselines.mean_similarity_matrix(baselines.embed_prompt_lists(embed, prompts))
        return matrix, usage, f"{sum(len(p) for p in prompts)} descriptor sentences"

    def zpe() -> tuple[np.ndarray, Usage, str]:
        matrices = np.concatenate([
            baselines.template_matrices(embed, templates, names),
            baselines.cupl_slot_matrices(embed, generated["cupl"], names),
        ])
        weights = baselines.zpe_weights(baselines.zpe_scores(features, matrices, bench.target.logit_scale))
        top = np.sort(weights)[::-1][:3]
        note = f"{len(matrices)} prompts; reuses row 4's LLM replies; largest weights {', '.join(f'{w:.2f}' for w in top)}"
        return baselines.weighted_matrix(matrices, weights), generated["cupl_usage"], note

    def skipped(index: int) -> MethodResult:
        return MethodResult(METHODS[index], [], [], Usage(), 0.0, skip_llm or "")

    rows = [
        measure(METHODS[0], lambda: (prompts_matrix([[n] for n in names]), Usage(), ""), evaluate),
        measure(METHODS[1], lambda: (prompts_matrix(baselines.template_prompts([PLAIN_TEMPLATES[modality]], names)),
                                     Usage(), PLAIN_TEMPLATES[modality]), evaluate),
        measure(METHODS[2], lambda: (prompts_matrix(baselines.template_prompts(templates, names)), Usage(),
                                     f"{len(templates)} templates"), evaluate),
        skipped(3) if skip_llm else measure(METHODS[3], cupl, evaluate),
        skipped(4) if skip_llm else measure(METHODS[4], dclip, evaluate),
    ]
    rows.append(waffle_result(bench, names, evaluate))
    rows.append(skipped(6) if skip_llm else measure(METHODS[6], zpe, evaluate))
    return rows


def waffle_result(bench: Bench, names: Sequence[str], evaluate) -> MethodResult:
    """Row 6: random descriptors, one run per seed; costs no LLM calls."""
    options = bench.options
    words = vocabulary_words(bench.target)
    result = MethodResult(METHODS[5], [], [], Usage(), 0.0)
    for seed in options.waffle_seeds:
        started = time.perf_counter()
        descriptors = baselines.waffle_descriptors(seed, words, options.waffle_count)
        prompts = baselines.waffle_prompts(descriptors, names)
        matrix = baselines.mean_similarity_matrix(baselines.embed_prompt_lists(bench.embed, prompts))
        result.wall_s += time.perf_counter() - started
        accuracy, balanced = evaluate(matrix)
        result.accuracies.append(accuracy)
        result.balanced_accuracies.append(balanced)
    source = "the target tokenizer's whole-word vocabulary" if words else "random characters only"
    result.note = f"{options.waffle_count} descriptors per class, words from {source}"
    logger.info("  %-32s accuracy %.4f (mean of %d seeds)", result.method, np.mean(result.accuracies), result.runs)
    return result


def vocabulary_words(target: Target) -> list[str]:
    """Return the sorted alphabetic words of 4 to 10 letters in the target's tokenizer vocabulary.

    Returns [] when the target has no such tokenizer. WaffleCLIP drew its random words from
    an English word list. None ships offline here, so the encoder's own vocabulary is used
    instead. Word pieces ("##ing") are left out.
    """
    tokenizer = getattr(getattr(target, "model", None), "tokenizer", None)
    if tokenizer is None or not hasattr(tokenizer, "get_vocab"):
        return []
    return sorted(w for w in tokenizer.get_vocab() if w.isascii() and w.isalpha() and w.islower() and 4 <= len(w) <= 10)


def optimizer_result(bench: Bench, dataset: Dataset, name: str) -> tuple[MethodResult, list[str]]:
    """Row 8: the optimizer at its default settings, once per seed, with its stored LLM usage."""
    result = MethodResult(METHODS[7], [], [], Usage(), 0.0)
    members: list[str] = []
    for seed in bench.options.seeds:
        started = time.perf_counter()
        run = run_optimizer(
            dataset, target=bench.target, llm=bench.llm, settings=Settings(seed=seed),
            runs_dir=bench.options.runs_dir, run=f"bench-{name}-seed{seed}-{bench.stamp}",
        )
        result.wall_s += time.perf_counter() - started
        evaluations = {evaluation["name"]: evaluation for evaluation in run.evaluations}
        result.accuracies.append(evaluations["optimized"]["accuracy"])
        result.balanced_accuracies.append(evaluations["optimized"]["balanced_accuracy"])
        result.usage.add(stored_usage(run.database, run.run_id))
        kinds = [member["kind"] for member in run.pack["members"]]
        members.append(f"seed {seed}: " + ", ".join(f"{kinds.count(k)} {k}" for k in sorted(set(kinds))))
        logger.info("  %-32s seed %d accuracy %.4f  %.1f s", result.method, seed, result.accuracies[-1],
                    time.perf_counter() - started)
    result.note = f"settings {Settings().steps} steps x {Settings().candidates_per_step} candidates, fitness {Settings().fitness}"
    return result, members


def stored_usage(database: Path, run_id: int) -> Usage:
    """Calls and tokens of one optimizer run, read from its history database."""
    store = Store(database)
    try:
        calls = store.llm_calls(run_id)
    finally:
        store.close()
    return Usage(
        live_calls=len(calls),
        failed_calls=sum(1 for call in calls if call["error"]),
        prompt_tokens=sum(call["prompt_tokens"] or 0 for call in calls),
        completion_tokens=sum(call["completion_tokens"] or 0 for call in calls),
    )


def image_benchmark(bench: Bench, paths: Sequence[Path]) -> tuple[list[DatasetReport], str | None]:
    """Run the image sets when the open_clip target loads; otherwise return why they were skipped."""
    if not paths:
        return [], None
    try:
        target = resolve_target(bench.options.image_target, "image")
        target.encode_texts(["a photo of a cat."])
    except (ImportError, AgentError, OSError, RuntimeError) as error:
        message = f"skipped: the image target {bench.options.image_target} is unavailable ({error.__class__.__name__}: {error})"
        logger.warning("images %s", message)
        return [], message
    image_bench = Bench(bench.options, target, bench.cache, bench.llm, bench.cached_llm, bench.stamp)
    return [run_dataset(image_bench, path) for path in paths], None


def text_paths(options: argparse.Namespace) -> list[Path]:
    """List the datasets given on the command line, then one CSV from every --text-dir subfolder.

    A subfolder's `test.csv` is used, or else its only CSV file.
    """
    paths = [Path(p) for p in options.datasets]
    if options.text_dir is not None:
        for folder in sorted(p for p in Path(options.text_dir).iterdir() if p.is_dir()):
            csvs = sorted(folder.glob("*.csv"))
            if (folder / "test.csv").exists():
                paths.append(folder / "test.csv")
            elif len(csvs) == 1:
                paths.append(csvs[0])
            else:
                logger.warning("skipping %s: it has no test.csv and %d other CSV files", folder, len(csvs))
    return paths


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.compare", description=__doc__.split("\n\n")[0])
    parser.add_argument("datasets", nargs="*", help="text dataset files (CSV, TSV or JSONL with a label column)")
    parser.add_argument("--text-dir", help="folder of text sets, one subfolder each; its test.csv is used")
    parser.add_argument("--images", nargs="*", default=[], help="image sets (.npz files or folders) for the open_clip table")
    parser.add_argument("--target", default="st:all-MiniLM-L6-v2", help="text encoder (default: %(default)s)")
    parser.add_argument("--image-target", default="clip:ViT-B-32/openai", help="image encoder (default: %(default)s)")
    parser.add_argument("--llm", default="local", help="LLM spec: local, local:/path.gguf or a LiteLLM model string (default: %(default)s)")
    parser.add_argument("--max-inputs", type=int, default=2000, help="seeded random subset size per set (default: %(default)s)")
    parser.add_argument("--subset-seed", type=int, default=0, help="seed of the input subsets (default: %(default)s)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="optimizer seeds (default: 0 1 2)")
    parser.add_argument("--waffle-seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4], help="WaffleCLIP seeds (default: 0 to 4)")
    parser.add_argument("--waffle-count", type=int, default=16, help="random descriptors per class (default: %(default)s)")
    parser.add_argument("--cupl-sentences", type=int, default=3, help="sentences asked for in one CuPL call (default: %(default)s)")
    parser.add_argument("--cupl-questions", type=int, default=2, choices=[1, 2], help="CuPL questions asked per class (default: %(default)s)")
    parser.add_argument("--cupl-samples", type=int, default=1, help="calls per CuPL question and class (default: %(default)s)")
    parser.add_argument("--descriptors", type=int, default=5, help="DCLIP descriptors per class (default: %(default)s)")
    parser.add_argument("--max-llm-classes", type=int, help="skip the LLM rows (4, 5, 7, 8) of sets with more classes than this (default: no limit)")
    parser.add_argument("--runs-dir", default="runs/benchmarks", help="caches, history database and packs (default: %(default)s)")
    parser.add_argument("--output", default="docs/benchmarks.md", help="Markdown page to write (default: %(default)s)")
    parser.add_argument("--csv", default="docs/benchmarks.csv", help="CSV file to write (default: %(default)s)")
    options = parser.parse_args(argv)
    if not options.datasets and options.text_dir is None and not options.images:
        parser.error("give dataset files, --text-dir or --images")
    return options


def main(argv: Sequence[str] | None = None) -> int:
    from benchmarks import report

    argv = list(sys.argv[1:] if argv is None else argv)
    options = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    started, load_before, code = time.perf_counter(), report.load_average(), report.code_version()
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    try:
        target = resolve_target(options.target, "text")
        llm = resolve_llm(options.llm)
        cache = FeatureCache(options.runs_dir)
        cached_llm = CachedLLM(llm, Path(options.runs_dir) / "llm-cache.db")
        bench = Bench(options, target, cache, llm, cached_llm, stamp)
        paths = text_paths(options)
        reports: list[DatasetReport] = []
        try:
            for path in paths:
                reports.append(run_dataset(bench, path))
                # Written after every set, so an interrupted run still leaves what it measured.
                info = report.run_info(argv, options, target.id, llm.id, time.perf_counter() - started, load_before, code)
                info["finished"] = f"{len(reports)} of {len(paths)} text sets"
                write_outputs(options, info, reports, [], "not run yet, because the text sets come first")
            image_reports, image_note = image_benchmark(bench, [Path(p) for p in options.images])
        finally:
            cache.close()
            cached_llm.close()
    except AgentError as error:
        print(f"benchmark failed: {error}", file=sys.stderr)
        return 1
    info = report.run_info(argv, options, target.id, llm.id, time.perf_counter() - started, load_before, code)
    info["finished"] = f"all {len(paths)} text sets"
    write_outputs(options, info, reports, image_reports, image_note)
    print(report.summary_text(reports, info))
    return 0


def write_outputs(options, info, reports, image_reports, image_note) -> None:
    from benchmarks import report

    report.write_markdown(Path(options.output), info, reports, image_reports, image_note)
    report.write_csv(Path(options.csv), reports + image_reports)


if __name__ == "__main__":
    sys.exit(main())
