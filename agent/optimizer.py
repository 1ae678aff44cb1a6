"""The optimizer loop: ask the LLM, score label-free, tell the history, keep the best ensemble.

Step 0 scores the baselines (class names alone and one plain template) and the generic
seed candidates from `prompts/`. Each later step
requests new candidates of every kind, validates them, scores the valid ones on the
target and reselects the ensemble. Every call, candidate and score goes to the store.
"""

from __future__ import annotations

import logging
import re
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

import numpy as np

from agent.candidates import KINDS, Candidate, candidate_from_text
from agent.data import Dataset
from agent.ensemble import Component, Selection, class_matrix, greedy_selection
from agent.errors import InputError
from agent.evaluate import Evaluation, evaluate_classifier
from agent.features import FeatureCache
from agent.llm import LLM
from agent.propose import Proposer, ScoredText, seed_templates
from agent.scoring import DEFAULT_FITNESS, Clustering, FitnessContext, fitness_context, get_fitness
from agent.store import Store, now
from agent.targets import Target, normalize_rows

logger = logging.getLogger(__name__)

PLAIN_TEMPLATES = {"text": "This text is about {}.", "image": "a photo of a {}."}
EventCallback = Callable[[str, dict[str, Any]], None]


@dataclass(frozen=True)
class Settings:
    """Everything that shapes a run besides the dataset, target and LLM; stored with the run."""

    steps: int = 3
    candidates_per_step: int = 4
    seed: int = 0
    fitness: str = DEFAULT_FITNESS
    kinds: tuple[str, ...] = KINDS
    retries: int = 2
    seed_templates: bool = True
    class_guard: bool = True
    max_ensemble: int = 12
    ensemble: str = "greedy"

    def check(self) -> None:
        for name in ("steps", "candidates_per_step", "seed", "retries", "max_ensemble"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool):
                raise InputError(f"{name} must be an integer, got {value!r}")
        if self.steps < 0:
            raise InputError(f"--steps must be 0 or more, got {self.steps}")
        if not 1 <= self.candidates_per_step <= 50:
            raise InputError(f"--candidates-per-step must be between 1 and 50, got {self.candidates_per_step}")
        unknown = [kind for kind in self.kinds if kind not in KINDS]
        if unknown or not self.kinds:
            raise InputError(f"invalid candidate kinds {unknown or list(self.kinds)}; choose from {', '.join(KINDS)}")
        get_fitness(self.fitness)
        from agent.ensemble import METHODS

        if self.ensemble not in METHODS:
            raise InputError(f"invalid --ensemble {self.ensemble!r}; choose one of {', '.join(sorted(METHODS))}")


@dataclass
class Scored:
    """A scored candidate in the run's pool."""

    id: int
    candidate: Candidate
    fitness: float
    component: Component


@dataclass
class LoopState:
    pool: list[Scored] = field(default_factory=list)
    seen: set[str] = field(default_factory=set)
    selection: Selection | None = None


class Optimizer:
    """Runs one optimization on a dataset, target and LLM, writing to a store."""

    def __init__(
        self,
        dataset: Dataset,
        target: Target,
        llm: LLM,
        store: Store,
        cache: FeatureCache,
        settings: Settings,
        on_event: EventCallback | None = None,
    ) -> None:
        settings.check()
        self.dataset = dataset
        self.target = target
        self.llm = llm
        self.store = store
        self.cache = cache
        self.settings = settings
        self.on_event = on_event or (lambda name, info: None)
        self.fitness_function = get_fitness(settings.fitness)
        self.features: np.ndarray | None = None
        self.clustering: Clustering | None = None
        self.context: FitnessContext | None = None
        self.state = LoopState()

    # Setup

    def prepare(self) -> None:
        """Encode (or load) the input features, then cluster them and find their neighbours, once."""
        if self.context is not None:
            return
        encoding = self.features is None
        if encoding:
            self.on_event("encode_start", {"inputs": len(self.dataset)})
            self.features = self.cache.input_features(
                self.target, self.dataset,
                progress=lambda done, total: self.on_event("encode", {"done": done, "total": total}),
            )
        self.context = fitness_context(self.features, len(self.dataset.class_names), self.settings.seed)
        self.clustering = self.context.clustering
        if encoding:
            self.on_event("encode_end", {"inputs": len(self.dataset)})

    def fitness(self, class_embeddings: np.ndarray) -> float:
        """Score a class matrix with the selected fitness and the context `prepare` computed."""
        if self.context is None:
            self.prepare()
        return float(
            self.fitness_function(
                self.features, class_embeddings, self.context.clustering, logit_scale=self.target.logit_scale,
                **self.context.options,
            )
        )

    # Scoring

    def component(self, candidate: Candidate) -> Component:
        """Embed the candidate's prompts and sum them per class."""
        prompt_lists = candidate.prompts(self.dataset.class_names)
        flat = [prompt for prompts in prompt_lists for prompt in prompts]
        vectors = self.cache.text_embeddings(self.target, flat)
        sums, start = [], 0
        for prompts in prompt_lists:
            sums.append(vectors[start : start + len(prompts)].sum(axis=0))
            start += len(prompts)
        return Component(key=candidate.hash, sums=np.stack(sums))

    def score(self, candidate: Candidate, component: Component) -> float:
        """Fitness of one candidate alone, read from or written to the cross-run score cache."""
        key = (self.target.id, self.dataset.inputs_hash, self.settings.fitness, self.settings.seed)
        cached = self.store.cached_scores(key, [candidate.hash])
        if candidate.hash in cached:
            return cached[candidate.hash]
        fitness = self.fitness(class_matrix([component]))
        self.store.cache_scores(key, {candidate.hash: fitness})
        return fitness

    def off_class(self, candidate: Candidate, component: Component) -> str | None:
        """Return why a renaming or description set drifts to another class, or None.

        Label-free scores see how a classifier groups the inputs, not which class each group
        is named after, so a renaming into unrelated words can score well while naming every
        group wrongly. Each class's new prompts must be closer to that class's own name than
        to any other class name.
        """
        if candidate.kind == "template" or not self.settings.class_guard:
            return None
        class_names = list(self.dataset.class_names)
        names = self.cache.text_embeddings(self.target, class_names)
        similarity = normalize_rows(component.sums) @ names.T
        for index, name in enumerate(class_names):
            nearest = int(similarity[index].argmax())
            if name in candidate.payload and nearest != index:
                return f"the prompts for {name!r} are closer to the class name {class_names[nearest]!r} than to {name!r}"
        return None

    def add_scored(self, run_id: int, step: int, candidates: list[Candidate], source: str) -> tuple[int, int]:
        """Score, store and pool candidates; returns how many failed to score and how many drifted."""
        failed = drifted = 0
        for candidate in candidates:
            row_id = self.store.add_candidate(
                run_id, step, kind=candidate.kind, text=candidate.text, content_hash=candidate.hash,
                source=source, state="pending",
            )
            try:
                component = self.component(candidate)
                reason = self.off_class(candidate, component)
                fitness = None if reason else self.score(candidate, component)
            except (ValueError, RuntimeError, KeyError) as error:
                failed += 1
                logger.warning("candidate %d failed to score: %s", row_id, error)
                self.store.update_candidate(row_id, state="failed", reason=f"{error.__class__.__name__}: {error}")
                continue
            if reason is not None:
                drifted += 1
                self.store.update_candidate(row_id, state="rejected", reason=reason)
                continue
            if not np.isfinite(fitness):
                failed += 1
                self.store.update_candidate(row_id, state="failed", reason=f"fitness is {fitness}")
                continue
            self.store.update_candidate(row_id, state="scored", fitness=fitness)
            self.state.pool.append(Scored(row_id, candidate, fitness, component))
        return failed, drifted

    def reselect(self, run_id: int, step: int) -> Selection:
        from agent.ensemble import select

        selection = select(
            self.settings.ensemble, [s.component for s in self.state.pool], self.fitness,
            max_members=self.settings.max_ensemble,
        )
        previous = self.state.selection
        if previous is not None and previous.fitness > selection.fitness:
            # Greedy search restarts from the best single candidate, so a new candidate can
            # lead it to a worse ensemble than one already found. The kept ensemble only improves.
            selection = previous
        self.state.selection = selection
        members = [self.state.pool[i].id for i in selection.members]
        self.store.add_ensemble(run_id, step, members, list(selection.weights), selection.fitness, self.settings.ensemble)
        return selection

    def history(self, kind: str) -> list[ScoredText]:
        return [ScoredText(s.candidate.text, s.fitness) for s in self.state.pool if s.candidate.kind == kind]

    def restore(self, run_id: int) -> int:
        """Reload a run's scored candidates; returns the last finished step."""
        for row in self.store.candidates(run_id):
            self.state.seen.add(row["content_hash"])
            if row["state"] == "scored":
                candidate = candidate_from_text(row["kind"], row["text"])
                self.state.pool.append(Scored(row["id"], candidate, row["fitness"], self.component(candidate)))
        finished = [s["step"] for s in self.store.steps(run_id) if s["status"] in ("ok", "failed")]
        return max(finished, default=-1)

    # Loop

    def baselines(self) -> list[Candidate]:
        names = Candidate("names", {name: name for name in self.dataset.class_names})
        template = Candidate("template", PLAIN_TEMPLATES[self.dataset.modality])
        return [names, template]

    def seeds(self) -> list[Candidate]:
        """Generic hand-written templates from `prompts/`, scored at step 0 beside the baselines."""
        if not self.settings.seed_templates:
            return []
        task = self.dataset.description or ("texts" if self.dataset.modality == "text" else "images")
        seeds = [Candidate("template", text) for text in seed_templates(self.dataset.modality, task)]
        readable = {name: readable_name(name) for name in self.dataset.class_names}
        if any(readable[name] != name for name in readable) and len(set(readable.values())) == len(readable):
            seeds.append(Candidate("names", readable))
        return seeds

    def run_step(self, run_id: int, step: int, proposer: Proposer) -> dict[str, Any]:
        """Ask for every kind, store calls and rejects, score the rest, reselect."""
        self.store.save_step(run_id, step, status="running", started_at=now())
        counts = {"proposed": 0, "scored": 0, "rejected": 0, "failed": 0}
        errors = []
        for index, kind in enumerate(self.settings.kinds):
            seed = self.settings.seed * 100_003 + step * 101 + index
            proposal = proposer.propose(kind, self.history(kind), self.settings.candidates_per_step, self.state.seen, seed)
            self.store.add_llm_calls(run_id, step, kind, self.llm.id, proposal.calls)
            for text, reason in proposal.rejects:
                self.store.add_candidate(run_id, step, kind=kind, text=text, source="llm", state="rejected", reason=reason)
            if proposal.error is not None:
                errors.append(f"{kind}: {proposal.error}")
            counts["proposed"] += len(proposal.candidates) + len(proposal.rejects)
            failed, drifted = self.add_scored(run_id, step, proposal.candidates, "llm")
            counts["rejected"] += len(proposal.rejects) + drifted
            counts["failed"] += failed
            counts["scored"] += len(proposal.candidates) - failed - drifted
        selection = self.reselect(run_id, step)
        status = "failed" if len(errors) == len(self.settings.kinds) else "ok"
        self.store.save_step(
            run_id, step, status=status, finished_at=now(), best_fitness=selection.fitness,
            error="; ".join(errors) or None, **counts,
        )
        return {**counts, "status": status, "errors": errors, "best_fitness": selection.fitness}

    def run_baselines(self, run_id: int) -> None:
        """Step 0: score the baselines and the seed candidates, then select the first ensemble."""
        self.store.save_step(run_id, 0, status="running", started_at=now())
        counts = {"proposed": 0, "scored": 0, "rejected": 0, "failed": 0}
        for source, candidates in (("baseline", self.baselines()), ("seed", self.seeds())):
            fresh = [c for c in candidates if c.hash not in self.state.seen]
            self.state.seen.update(c.hash for c in fresh)
            failed, drifted = self.add_scored(run_id, 0, fresh, source)
            counts["proposed"] += len(fresh)
            counts["scored"] += len(fresh) - failed - drifted
            counts["rejected"] += drifted
            counts["failed"] += failed
        selection = self.reselect(run_id, 0)
        self.store.save_step(run_id, 0, status="ok", finished_at=now(), best_fitness=selection.fitness, **counts)
        self.on_event("step", {"step": 0, "steps": self.settings.steps, "best_fitness": selection.fitness,
                               "status": "ok", "errors": [], **counts})

    def run(self, run_id: int, first_step: int = 0) -> Selection:
        """Run steps `first_step`..settings.steps (0 is the baselines) and return the best ensemble."""
        self.prepare()
        proposer = Proposer(
            self.llm, self.dataset.class_names, self.dataset.modality, self.dataset.description,
            retries=self.settings.retries,
        )
        if first_step == 0:
            self.run_baselines(run_id)
            first_step = 1
        elif self.state.pool:
            self.reselect(run_id, first_step - 1)
        for step in range(first_step, self.settings.steps + 1):
            info = self.run_step(run_id, step, proposer)
            logger.info("step %d/%d: %d scored, %d rejected, best fitness %.4f", step, self.settings.steps, info["scored"], info["rejected"], info["best_fitness"])
            self.on_event("step", {"step": step, "steps": self.settings.steps, **info})
        return self.state.selection

    # Results

    def evaluations(self, selection: Selection) -> list[Evaluation]:
        """Accuracy of the baselines and the optimized ensemble; empty without labels."""
        if self.dataset.labels is None:
            return []
        names, template = self.baselines()
        classifiers = {
            "class names": class_matrix([self.component(names)]),
            "single template": class_matrix([self.component(template)]),
            "optimized": self.selection_matrix(selection),
        }
        return [
            evaluate_classifier(name, self.features, matrix, self.dataset.labels, self.dataset.class_names)
            for name, matrix in classifiers.items()
        ]

    def selection_matrix(self, selection: Selection) -> np.ndarray:
        components = [self.state.pool[i].component for i in selection.members]
        return class_matrix(components, selection.weights)

    def members(self, selection: Selection) -> list[tuple[Scored, float]]:
        return [(self.state.pool[i], w) for i, w in zip(selection.members, selection.weights)]


def readable_name(name: str) -> str:
    """Spell an identifier-style class name as words: `card_arrival` -> `card arrival`, `SciTech` -> `sci tech`."""
    spaced = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", name.replace("_", " ").replace("-", " "))
    words = spaced.split()
    if not words:
        return name
    return " ".join(word if word.isupper() and len(word) > 1 else word.lower() for word in words)


def settings_dict(settings: Settings) -> dict[str, Any]:
    return {**asdict(settings), "kinds": list(settings.kinds)}
