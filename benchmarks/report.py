"""The benchmark's outputs: the Markdown page, the CSV beside it and the printed summary.

Every number comes from the `DatasetReport`s of one run. A notes section written by hand
below `NOTES_MARKER` survives regeneration, so analysis of a run is not lost on a rerun.
"""

from __future__ import annotations

import csv
import os
import platform
import shlex
import subprocess
import sys
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from benchmarks.baselines import CUPL_QUESTIONS

NOTES_MARKER = "<!-- Notes below this line are written by hand and kept when the page is regenerated. -->"
BASELINE_COUNT = 7  # rows 1 to 7; row 8 is the optimizer
PACKAGES = ("sentence-transformers", "torch", "llama_cpp_python", "numpy", "scikit-learn")


def load_average() -> tuple[float, float, float] | None:
    try:
        return os.getloadavg()
    except OSError:
        return None


def spread(values: Sequence[float]) -> float:
    """Sample standard deviation (ddof=1), 0 for a single value."""
    return float(np.std(values, ddof=1)) if len(values) > 1 else 0.0


def percent(values: Sequence[float]) -> str:
    if not values:
        return "not run"
    text = f"{100 * np.mean(values):.1f}"
    return text if len(values) == 1 else f"{text} ± {100 * spread(values):.1f}"


# Run description


def run_info(argv, options, target_id: str, llm_id: str, total_s: float, load_before, code: str) -> dict[str, Any]:
    """Collect the date, command, machine, software, code version and settings of this run.

    `code` is `code_version()` taken when the run started, because files may change while it runs.
    """
    from agent.optimizer import Settings, settings_dict

    return {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "command": "python -m benchmarks.compare " + shlex.join(argv),
        "machine": machine_description(),
        "load_before": load_before,
        "load_after": load_average(),
        "python": platform.python_version(),
        "packages": package_versions(),
        "code": code,
        "target": target_id,
        "llm": llm_id,
        "total_s": total_s,
        "options": vars(options),
        "optimizer_settings": settings_dict(Settings()),
    }


def machine_description() -> str:
    model = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    memory = ""
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        kib = int(meminfo.read_text(encoding="utf-8").split("MemTotal:")[1].split()[0])
        memory = f", {kib / 2**20:.0f} GiB memory"
    return f"{platform.system()} {platform.machine()}, {os.cpu_count()} logical CPUs ({model}){memory}, no GPU used"


def package_versions() -> dict[str, str]:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def code_version() -> str:
    """Return the commit of the repository and the files under agent/ and prompts/ that differ from it."""
    root = Path(__file__).resolve().parents[1]
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True,
                                text=True, check=True).stdout.strip()
        changed = subprocess.run(["git", "status", "--porcelain", "--", "agent", "prompts"], cwd=root,
                                 capture_output=True, text=True, check=True).stdout.split("\n")
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"
    changed = [line[3:] for line in changed if line.strip()]
    return f"{commit}" + (f" with uncommitted changes in {', '.join(changed)}" if changed else "")


# Summary


def summarize(report) -> dict[str, Any] | None:
    """Return class-name accuracy, the best baseline run, the optimizer's mean and whether it beats them all.

    Returns None when the optimizer was not run on this set. Skipped baseline rows are left out.
    """
    baselines = [result for result in report.results[:BASELINE_COUNT] if result.runs]
    optimizer = report.results[BASELINE_COUNT]
    if not optimizer.runs:
        return None
    best = max(baselines, key=lambda result: np.mean(result.accuracies))
    names = float(np.mean(baselines[0].accuracies))
    mean = float(np.mean(optimizer.accuracies))
    return {
        "dataset": report.name, "names": names, "best": best.method, "best_accuracy": float(np.mean(best.accuracies)),
        "optimizer": mean, "optimizer_spread": spread(optimizer.accuracies), "gain": mean - names,
        "beats_all": all(mean > np.mean(result.accuracies) for result in baselines),
    }


def verdict(summaries: Sequence[dict[str, Any]]) -> str:
    """State plainly whether the optimizer beats rows 1 to 7 on at least four sets and gains 5 points."""
    if not summaries:
        return "No text set was measured."
    wins = sum(s["beats_all"] for s in summaries)
    gain = 100 * float(np.mean([s["gain"] for s in summaries]))
    needed_wins = min(4, len(summaries))
    lines = [
        f"The optimizer's mean accuracy beats every row 1 to 7 on {wins} of {len(summaries)} sets; "
        f"its mean gain over class names alone is {gain:+.1f} points."
    ]
    if wins >= needed_wins and gain >= 5:
        lines.append(f"That meets the goal: beat every baseline on at least {needed_wins} sets and gain at least 5 points.")
    else:
        missed = []
        if wins < needed_wins:
            missed.append(f"it beats every baseline on {wins} sets, not {needed_wins}")
        if gain < 5:
            missed.append(f"its mean gain is {gain:.1f} points, not 5")
        lines.append(f"It does not meet the goal: {', and '.join(missed)}. The notes below say what limits it.")
    return " ".join(lines)


def summary_table(summaries: Sequence[dict[str, Any]]) -> list[str]:
    lines = [
        "| dataset | class names | best of rows 1-7 | optimizer (mean ± sd) | gain over class names | beats rows 1-7 |",
        "|---|---:|---|---:|---:|:---:|",
    ]
    for s in summaries:
        lines.append(
            f"| {s['dataset']} | {100 * s['names']:.1f} | {s['best']}: {100 * s['best_accuracy']:.1f} | "
            f"{100 * s['optimizer']:.1f} ± {100 * s['optimizer_spread']:.1f} | {100 * s['gain']:+.1f} | "
            f"{'yes' if s['beats_all'] else 'no'} |"
        )
    return lines


def summary_text(reports, info: dict[str, Any]) -> str:
    """Format the printed summary: the summary table, the verdict and the total time."""
    summaries = [s for s in map(summarize, reports) if s is not None]
    lines = summary_table(summaries) + ["", verdict(summaries), f"Total time: {info['total_s'] / 60:.1f} min"]
    return "\n".join(lines)


# Page and CSV


def dataset_table(report) -> list[str]:
    cached = "features loaded from the cache" if report.features_cached else "features encoded in this run"
    lines = [
        f"### {report.name}",
        "",
        f"{report.inputs} of {report.rows} inputs (seeded subset), {len(report.class_names)} classes, "
        f"task line \"{report.task or 'none'}\"; {cached} ({report.feature_s:.1f} s); "
        f"all rows together took {report.wall_s / 60:.1f} min.",
        "",
        "| # | method | accuracy | balanced accuracy | runs | LLM calls per run (live / cached / failed) | "
        "tokens per run | wall s per run | notes |",
        "|---:|---|---:|---:|---:|---|---:|---:|---|",
    ]
    for index, result in enumerate(report.results, start=1):
        runs, usage = max(result.runs, 1), result.usage
        calls = f"{usage.live_calls / runs:g} / {usage.cached_calls / runs:g} / {usage.failed_calls / runs:g}"
        lines.append(
            f"| {index} | {result.method} | {percent(result.accuracies)} | {percent(result.balanced_accuracies)} | "
            f"{result.runs} | {calls} | {usage.tokens / runs:,.0f} | {result.wall_s / runs:.1f} | {result.note} |"
        )
    if report.optimizer_members:
        lines += ["", "Optimizer ensembles (members by kind): " + "; ".join(report.optimizer_members) + "."]
    return lines


def settings_lines(info: dict[str, Any]) -> list[str]:
    options = info["options"]
    settings = info["optimizer_settings"]
    return [
        f"- Date: {info['date']}",
        f"- Command (from the repository root): `{info['command']}`",
        f"- Machine: {info['machine']}. Load average (1, 5, 15 min) {_load_text(info['load_before'])} at the start "
        f"and {_load_text(info['load_after'])} at the end; a load above the CPU count means other jobs shared the "
        "CPUs, so the wall times are pessimistic.",
        f"- Encoder: `{info['target']}`. LLM: `{info['llm']}`.",
        f"- Software: Python {info['python']}, "
        + ", ".join(f"{name} {version}" for name, version in info["packages"].items())
        + f"; code at {info['code']}.",
        f"- Inputs: a random subset of at most {options['max_inputs']} rows per set (seed {options['subset_seed']}); "
        "labels are read only to compute the accuracies below.",
        f"- LLM budget: CuPL asks {options['cupl_questions'] or len(CUPL_QUESTIONS['text'])} question(s) x {options['cupl_samples']} sample(s) per "
        f"class, {options['cupl_sentences']} sentences each; DCLIP asks once per class for {options['descriptors']} "
        f"descriptors; WaffleCLIP draws {options['waffle_count']} descriptors per seed, seeds "
        f"{', '.join(map(str, options['waffle_seeds']))}.",
        f"- Optimizer: `run_optimizer` with default settings ({settings['steps']} steps, "
        f"{settings['candidates_per_step']} candidates per step, fitness `{settings['fitness']}`, kinds "
        f"{', '.join(settings['kinds'])}, at most {settings['max_ensemble']} members) and seeds "
        f"{', '.join(map(str, options['seeds']))}.",
        f"- Total time for the whole command: {info['total_s'] / 60:.1f} min, with {info.get('finished', 'every set')} finished.",
    ]


def _load_text(values) -> str:
    return "unknown" if values is None else ", ".join(f"{value:.1f}" for value in values)


def write_markdown(path: Path, info: dict[str, Any], reports, image_reports, image_note: str | None) -> None:
    """Write the page, keeping the hand-written notes below `NOTES_MARKER` of an existing page."""
    lines = page_header(info, reports)

    lines += ["## Text sets", ""]
    for report in reports:
        lines += dataset_table(report) + [""]

    lines += ["## Image sets (open_clip)", ""]
    if image_note:
        lines += [f"Image sets {image_note}.", ""]
    elif not image_reports:
        lines += ["No image set was given (pass `--images`).", ""]
    for report in image_reports:
        lines += dataset_table(report) + [""]

    notes = _existing_notes(path)
    lines += ["## Notes", "", NOTES_MARKER, notes or "\n(No notes yet.)\n"]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines).rstrip() + "\n", encoding="utf-8")


def page_header(info: dict[str, Any], reports) -> list[str]:
    """Build the title, the run description, the summary table and the verdict."""
    summaries = [s for s in map(summarize, reports) if s is not None]
    unmeasured = [report.name for report in reports if summarize(report) is None]
    lines = [
        "# Benchmarks: the optimizer beside published prompt methods",
        "",
        "Generated by `benchmarks/compare.py`. Every number below was measured by that run. Accuracies are",
        "percentages on the subsets named per set. A row with several runs shows the mean ± the sample",
        "standard deviation over its seeds, with its calls, tokens and wall time per run. Cached LLM calls",
        "count the tokens they cost when they were generated.",
        "",
        "## Run",
        "",
        *settings_lines(info),
        "",
        "## Summary (text sets)",
        "",
        *summary_table(summaries),
        "",
        verdict(summaries),
        "",
    ]
    if unmeasured:
        lines += [f"Not in the summary because the optimizer was not run on them: {', '.join(unmeasured)}.", ""]
    return lines


def _existing_notes(path: Path) -> str:
    if not path.exists():
        return ""
    text = path.read_text(encoding="utf-8")
    return text.split(NOTES_MARKER, 1)[1] if NOTES_MARKER in text else ""


CSV_COLUMNS = (
    "dataset", "source", "inputs", "rows", "classes", "row", "method", "runs", "accuracy_mean", "accuracy_sd",
    "balanced_accuracy_mean", "balanced_accuracy_sd", "accuracies", "live_calls_per_run", "cached_calls_per_run",
    "failed_calls_per_run", "prompt_tokens_per_run", "completion_tokens_per_run", "wall_s_per_run", "note",
)


def write_csv(path: Path, reports) -> None:
    """Write one CSV row per dataset and method; the fractions are in [0, 1]."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(CSV_COLUMNS)
        for report in reports:
            for index, result in enumerate(report.results, start=1):
                runs, usage = max(result.runs, 1), result.usage
                measured = bool(result.runs)
                writer.writerow([
                    report.name, report.source, report.inputs, report.rows, len(report.class_names), index,
                    result.method, result.runs,
                    f"{np.mean(result.accuracies):.4f}" if measured else "", f"{spread(result.accuracies):.4f}" if measured else "",
                    f"{np.mean(result.balanced_accuracies):.4f}" if measured else "",
                    f"{spread(result.balanced_accuracies):.4f}" if measured else "",
                    ";".join(f"{a:.4f}" for a in result.accuracies), usage.live_calls / runs,
                    usage.cached_calls / runs, usage.failed_calls / runs, usage.prompt_tokens / runs,
                    usage.completion_tokens / runs, f"{result.wall_s / runs:.2f}", result.note,
                ])
