"""The notebook API: `optimize(...)` runs the loop and `open_run(...)` reopens a stored run.

Both return an `OptimizationResult` read back from the history database, so a result of
a finished run, an interrupted run and a run reopened a week later look alike.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from agent.candidates import KINDS
from agent.data import Dataset, load_dataset
from agent.errors import InputError
from agent.llm import LLM
from agent.optimizer import Settings
from agent.packs import Pack
from agent.report import fitness_figure, load_run_details
from agent.runner import DEFAULT_RUNS_DIR, run_optimizer
from agent.scoring import DEFAULT_FITNESS
from agent.store import Store
from agent.targets import Target

logger = logging.getLogger(__name__)

HISTORY_COLUMNS = ["candidate_id", "step", "kind", "text", "source", "state", "fitness", "reason", "step_best_fitness"]


@dataclass(frozen=True)
class OptimizationResult:
    """One stored run: its best pack, its history and its lineage."""

    run_id: int
    run_name: str
    status: str
    pack: Pack | None
    best_fitness: float | None
    evaluations: dict[str, dict[str, Any]]
    seed: int
    target_id: str
    llm_id: str
    class_names: tuple[str, ...]
    database: Path
    history: pd.DataFrame = field(repr=False, compare=False)
    steps: pd.DataFrame = field(repr=False, compare=False)

    @property
    def accuracy(self) -> float | None:
        """Accuracy of the optimized ensemble, or None when the dataset had no labels."""
        optimized = self.evaluations.get("optimized")
        return None if optimized is None else optimized["accuracy"]

    def plot(self):
        """Return a matplotlib Figure: candidate fitness per step and the best fitness so far."""
        return fitness_figure(_records(self.history), _records(self.steps))


def optimize(
    dataset: Dataset | str | Path | Sequence[Any] | np.ndarray,
    *,
    class_names: Sequence[str] | None = None,
    labels: Sequence[Any] | np.ndarray | None = None,
    description: str | None = None,
    target: str | Target | None = None,
    llm: str | LLM | None = None,
    steps: int = 3,
    candidates_per_step: int = 4,
    kinds: Sequence[str] = KINDS,
    fitness: str = DEFAULT_FITNESS,
    ensemble: str = "greedy",
    seed: int = 0,
    runs_dir: str | Path = DEFAULT_RUNS_DIR,
    run: str | None = None,
    resume: bool = False,
    device: str | None = None,
    progress: bool = True,
) -> OptimizationResult:
    """Optimize prompts for `dataset` and return the stored result.

    `dataset` is a Dataset, a spec that `load_dataset` reads (a file, a folder, "demo"),
    or Python objects: a list of texts, a list of PIL images or image paths, or a numpy
    array of images, which need `class_names`. `labels` are used only to report accuracy.
    """
    data = as_dataset(dataset, class_names=class_names, labels=labels, description=description)
    settings = Settings(
        steps=steps, candidates_per_step=candidates_per_step, seed=seed, fitness=fitness, kinds=tuple(kinds),
        ensemble=ensemble,
    )
    bars = NotebookProgress() if progress else None
    try:
        result = run_optimizer(
            data, target=target, llm=llm, settings=settings, runs_dir=runs_dir, run=run,
            resume=resume, device=device, on_event=bars,
        )
    finally:
        if bars is not None:
            bars.close()
    return open_run(result.run_name, runs_dir=runs_dir)


def as_dataset(
    dataset: Dataset | str | Path | Sequence[Any] | np.ndarray,
    *,
    class_names: Sequence[str] | None = None,
    labels: Sequence[Any] | np.ndarray | None = None,
    description: str | None = None,
) -> Dataset:
    """Turn any accepted `dataset` argument of `optimize` into a Dataset."""
    if isinstance(dataset, Dataset):
        return dataset
    if isinstance(dataset, (str, Path)):
        if labels is not None:
            raise InputError("labels= applies to in-memory inputs; a dataset file brings its own label column")
        return load_dataset(dataset, classes=class_names, description=description)
    if class_names is None:
        raise InputError("in-memory inputs need class_names=[...] in class order")
    if isinstance(class_names, str):
        raise InputError(f"class_names={class_names!r} is a string; pass a list such as {class_names.split(',')!r}")
    from agent.data.objects import dataset_from_objects

    return dataset_from_objects(dataset, class_names, labels=labels, description=description)


def open_run(name: str | int, runs_dir: str | Path = DEFAULT_RUNS_DIR) -> OptimizationResult:
    """Reopen a finished or interrupted run by name or id from `<runs_dir>/history.db`."""
    database = Path(runs_dir) / "history.db"
    if not database.is_file():
        raise InputError(f"no history database at {database}; pass the runs_dir= that the run used")
    store = Store(database)
    try:
        details = load_run_details(store, name)
    finally:
        store.close()
    run = details.run
    history = pd.DataFrame(details.candidates).reindex(columns=HISTORY_COLUMNS)
    return OptimizationResult(
        run_id=run["id"], run_name=run["name"], status=run["status"],
        pack=None if details.pack is None else Pack.from_dict(details.pack, f"run {run['name']!r}"),
        best_fitness=run["best_fitness"], evaluations={name: _evaluation(row) for name, row in details.evaluations.items()}, seed=run["seed"],
        target_id=run["target_id"], llm_id=run["llm_id"], class_names=tuple(run["class_names"]),
        database=database, history=history, steps=pd.DataFrame(details.steps),
    )


def _evaluation(row: dict[str, Any]) -> dict[str, Any]:
    return {key: row[key] for key in ("name", "accuracy", "balanced_accuracy", "per_class_recall", "inputs")}


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as dicts with NaN turned back into None."""
    return [{k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in row.items()} for row in frame.to_dict("records")]


class NotebookProgress:
    """Optimizer events drawn as tqdm bars, which render as widgets in Jupyter and as text elsewhere."""

    def __init__(self) -> None:
        self._encoding = None
        self._steps = None

    def __call__(self, event: str, info: dict[str, Any]) -> None:
        from tqdm.auto import tqdm

        if event == "encode":
            if self._encoding is None:
                self._encoding = tqdm(total=info["total"], desc="encoding inputs", unit="input")
            self._encoding.n = info["done"]
            self._encoding.refresh()
        elif event == "encode_end" and self._encoding is not None:
            self._encoding.close()
            self._encoding = None
        elif event == "step":
            if self._steps is None:
                # Step 0 scores the baselines, so a run of N steps has N + 1 of them.
                self._steps = tqdm(total=info["steps"] + 1, initial=info["step"], desc="optimizing", unit="step")
            self._steps.update(1)
            self._steps.set_postfix(best_fitness=f"{info['best_fitness']:.4f}", status=info.get("status", "ok"))

    def close(self) -> None:
        for bar in (self._encoding, self._steps):
            if bar is not None:
                bar.close()
        self._encoding = self._steps = None
