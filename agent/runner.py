"""One call that wires a dataset, target, LLM and store into an optimizer run."""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, fields, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from agent import __version__
from agent.data import Dataset
from agent.errors import InputError
from agent.features import FeatureCache
from agent.llm import LLM, resolve_llm
from agent.optimizer import EventCallback, Optimizer, Settings, settings_dict
from agent.packs import pack_from_store, write_pack
from agent.store import Store, now
from agent.targets import Target, resolve_target

logger = logging.getLogger(__name__)

DEFAULT_RUNS_DIR = "runs"
_RUN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
# Folder names inside the runs directory that belong to the tool, not to a run.
_RESERVED_NAMES = {"cache"}


@dataclass(frozen=True)
class RunResult:
    """The outcome of a run with its lineage: ids, seed, models, classes and where it is stored."""

    run_id: int
    run_name: str
    pack: dict[str, Any]
    pack_path: Path
    database: Path
    best_fitness: float
    evaluations: tuple[dict[str, Any], ...]
    seed: int
    target_id: str
    llm_id: str
    class_names: tuple[str, ...]
    llm_steps: int = 0
    failed_steps: int = 0


def default_run_name(dataset: Dataset) -> str:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    return f"{re.sub(r'[^A-Za-z0-9._-]+', '-', dataset.name)}-{stamp}"


def check_run_name(name: str) -> str:
    if name in _RESERVED_NAMES or name.isdigit():
        raise InputError(f"invalid run name {name!r}: it is reserved or looks like a run id; choose another --run")
    if not _RUN_NAME.match(name):
        raise InputError(
            f"invalid run name {name!r}; use letters, digits, '.', '_' and '-' (at most 100 characters)"
        )
    return name


def run_optimizer(
    dataset: Dataset,
    *,
    target: str | Target | None = None,
    llm: str | LLM | None = None,
    settings: Settings | None = None,
    runs_dir: str | Path = DEFAULT_RUNS_DIR,
    run: str | None = None,
    resume: bool = False,
    device: str | None = None,
    on_event: EventCallback | None = None,
) -> RunResult:
    """Optimize prompts for `dataset` and write the history database and the pack."""
    settings = settings or Settings()
    settings.check()
    runs_dir = Path(runs_dir)
    if resume and run is None:
        raise InputError("--resume needs --run NAME, the run to continue; `optimize runs` lists them")
    name = check_run_name(run or default_run_name(dataset))
    target_model = resolve_target(target, dataset.modality, device=device)
    language_model = resolve_llm(llm)
    store = Store(runs_dir / "history.db")
    cache = FeatureCache(runs_dir)
    try:
        if resume:
            settings = _stored_settings(store, name, settings)
        optimizer = Optimizer(dataset, target_model, language_model, store, cache, settings, on_event)
        run_id, first_step = _open_run(store, optimizer, name, resume)
        try:
            selection = optimizer.run(run_id, first_step)
        except KeyboardInterrupt:
            store.update_run(run_id, status="interrupted")
            raise
        except Exception:
            # The run row stays, so that `optimize show` and `--resume` can pick it up.
            store.update_run(run_id, status="failed")
            raise
        return _finish(store, optimizer, run_id, name, runs_dir, selection)
    finally:
        cache.close()
        store.close()


def _open_run(store: Store, optimizer: Optimizer, name: str, resume: bool) -> tuple[int, int]:
    """Create the run row before the first step, or reopen it when resuming."""
    dataset, settings = optimizer.dataset, optimizer.settings
    existing = store.run_by_name(name)
    if existing is None and resume:
        raise InputError(f"no run named {name!r} in {store.path} to resume; `optimize runs` lists them, or leave out --resume")
    if existing is None:
        run_id = store.create_run(
            {
                "name": name, "dataset": dataset.source or dataset.name, "dataset_hash": dataset.inputs_hash,
                "modality": dataset.modality, "target_id": optimizer.target.id, "llm_id": optimizer.llm.id,
                "fitness_name": settings.fitness, "seed": settings.seed, "class_names": list(dataset.class_names),
                "description": dataset.description, "settings": settings_dict(settings), "tool_version": __version__,
            }
        )
        return run_id, 0
    if not resume:
        raise InputError(f"run {name!r} already exists in {store.path}; pass --resume to continue it or choose another --run")
    mismatches = [
        f"{label} {stored!r} (this command: {current!r})"
        for label, stored, current in [
            ("dataset", existing["dataset_hash"], dataset.inputs_hash),
            ("target", existing["target_id"], optimizer.target.id),
            ("class names", existing["class_names"], list(dataset.class_names)),
        ]
        if stored != current
    ]
    if mismatches:
        raise InputError(f"cannot resume run {name!r}: it was started with {'; '.join(mismatches)}")
    optimizer.prepare()
    last = optimizer.restore(existing["id"])
    store.update_run(existing["id"], status="running", settings=json.dumps(settings_dict(settings)))
    return existing["id"], last + 1


def _stored_settings(store: Store, name: str, requested: Settings) -> Settings:
    """Return the settings a resumed run started with, with the requested number of steps.

    A resumed run keeps its fitness, seed and other settings, so that it continues the
    same search even when a default changed since it started.
    """
    existing = store.run_by_name(name)
    if existing is None:
        return requested
    known = {f.name for f in fields(Settings)}
    stored = {key: value for key, value in existing["settings"].items() if key in known}
    stored["kinds"] = tuple(stored.get("kinds", requested.kinds))
    settings = replace(Settings(**stored), steps=requested.steps)
    ignored = [key for key in sorted(known - {"steps"}) if getattr(settings, key) != getattr(requested, key)]
    if ignored:
        logger.warning("resuming %s with its stored %s; the values given now are ignored", name, ", ".join(ignored))
    return settings


def _finish(store: Store, optimizer: Optimizer, run_id: int, name: str, runs_dir: Path, selection) -> RunResult:
    evaluations = [e.as_dict() for e in optimizer.evaluations(selection)]
    for evaluation in evaluations:
        store.add_evaluation(run_id, evaluation)
    store.update_run(run_id, status="finished", finished_at=now(), best_fitness=selection.fitness)
    pack = pack_from_store(store, store.run(run_id))
    pack_path = write_pack(pack, runs_dir / name / "pack.json")
    statuses = [s["status"] for s in store.steps(run_id) if s["step"] > 0]
    return RunResult(
        run_id=run_id, run_name=name, pack=pack, pack_path=pack_path, database=store.path,
        best_fitness=selection.fitness, evaluations=tuple(evaluations), seed=optimizer.settings.seed,
        target_id=optimizer.target.id, llm_id=optimizer.llm.id, class_names=tuple(optimizer.dataset.class_names),
        llm_steps=len(statuses), failed_steps=statuses.count("failed"),
    )
