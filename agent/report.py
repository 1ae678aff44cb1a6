"""Run reports: the facts of one run gathered from the store, its plots and a self-contained HTML page.

Plots are drawn with matplotlib's Agg backend and embedded as base64 PNG, so the page
opens offline and can be mailed as one file.
"""

from __future__ import annotations

import base64
import html
import io
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Sequence

from agent.errors import AgentError, InputError
from agent.packs import pack_from_store

BASELINES = ("class names", "single template")
PROMPTS_SHOWN_PER_CLASS = 6


@dataclass(frozen=True)
class RunDetails:
    """A run's rows from the store, in the shapes that the report and `optimize show` print."""

    run: dict[str, Any]
    summary: dict[str, Any]
    candidates: list[dict[str, Any]]
    steps: list[dict[str, Any]]
    members: list[dict[str, Any]]
    evaluations: dict[str, dict[str, Any]]
    pack: dict[str, Any] | None

    def ranked(self) -> list[dict[str, Any]]:
        """Scored candidates, best fitness first."""
        scored = [c for c in self.candidates if c["state"] == "scored" and c["fitness"] is not None]
        return sorted(scored, key=lambda c: (-c["fitness"], c["candidate_id"]))


def load_run_details(store, name_or_id: str | int) -> RunDetails:
    """Read one run's rows from `store`; raises InputError when no run has that name or id."""
    run = store.find_run(name_or_id)
    if run is None:
        known = ", ".join(r["name"] for r in store.runs()[-5:]) or "none yet"
        raise InputError(f"run {name_or_id!r} not found in {store.path} (latest runs: {known}); list them with `optimize runs`")
    ensembles = store.ensembles(run["id"])
    members = store.ensemble_members(run["id"], ensembles[-1]["id"]) if ensembles else []
    evaluations = {row["name"]: row for row in store.evaluations(run["id"])}
    return RunDetails(
        run=run, summary=store.run_summary(run["id"]), candidates=store.candidate_scores(run["id"]),
        steps=store.steps(run["id"]), members=members, evaluations=evaluations,
        pack=pack_from_store(store, run) if ensembles else None,
    )


# Figures


@lru_cache(maxsize=1)
def _figure_class() -> type:
    """Return a matplotlib Figure subclass that Jupyter displays as a PNG without pyplot."""
    try:
        from matplotlib.figure import Figure
    except ImportError as error:
        raise AgentError("plots need matplotlib, which is not installed; run `pip install 'agent[plots]'`") from error

    class PlotFigure(Figure):
        def _repr_png_(self) -> bytes:
            return base64.b64decode(figure_png(self))

    return PlotFigure


def fitness_figure(candidates: Sequence[dict[str, Any]], steps: Sequence[dict[str, Any]]):
    """Draw two panels: each scored candidate's fitness by step, and the best fitness so far."""
    figure = _figure_class()(figsize=(10, 3.6), layout="constrained")
    per_step, best = figure.subplots(1, 2)
    scored = [c for c in candidates if c["state"] == "scored" and c["fitness"] is not None]
    for kind in sorted({c["kind"] for c in scored}):
        points = [(c["step"], c["fitness"]) for c in scored if c["kind"] == kind]
        per_step.scatter([p[0] for p in points], [p[1] for p in points], label=kind, alpha=0.7, s=22)
    per_step.set(title="Candidate fitness per step", xlabel="step", ylabel="fitness")
    if scored:
        per_step.legend(fontsize="small")
    finished = [s for s in steps if s["best_fitness"] is not None]
    best.plot([s["step"] for s in finished], [s["best_fitness"] for s in finished], marker="o", label="ensemble")
    single, running = [], float("-inf")
    for step in sorted({c["step"] for c in scored}):
        running = max(running, max(c["fitness"] for c in scored if c["step"] == step))
        single.append((step, running))
    best.plot([p[0] for p in single], [p[1] for p in single], marker=".", linestyle="--", label="best single candidate")
    best.set(title="Best fitness so far", xlabel="step", ylabel="fitness")
    best.legend(fontsize="small")
    for axes in (per_step, best):
        axes.xaxis.get_major_locator().set_params(integer=True)
    return figure


def accuracy_figure(evaluations: dict[str, dict[str, Any]]):
    """Bar chart of accuracy and balanced accuracy, baselines beside the optimized ensemble."""
    names = [n for n in (*BASELINES, "optimized") if n in evaluations] + [
        n for n in evaluations if n not in (*BASELINES, "optimized")
    ]
    figure = _figure_class()(figsize=(6, 3.4), layout="constrained")
    axes = figure.subplots()
    positions = range(len(names))
    axes.bar([p - 0.2 for p in positions], [evaluations[n]["accuracy"] for n in names], width=0.4, label="accuracy")
    axes.bar([p + 0.2 for p in positions], [evaluations[n]["balanced_accuracy"] for n in names], width=0.4, label="balanced accuracy")
    axes.set_xticks(list(positions), names)
    axes.set(title="Accuracy (labels used only here)", ylim=(0, 1.05))
    axes.legend(fontsize="small", loc="lower right")
    return figure


def recall_figure(evaluations: dict[str, dict[str, Any]], class_names: Sequence[str]):
    """Grouped bars of per-class recall for every evaluated classifier."""
    width_inches = max(6, 0.6 * len(class_names) * max(1, len(evaluations)))
    figure = _figure_class()(figsize=(width_inches, 3.6), layout="constrained")
    axes = figure.subplots()
    width = 0.8 / max(1, len(evaluations))
    for offset, (name, evaluation) in enumerate(evaluations.items()):
        recalls = [evaluation["per_class_recall"].get(c, 0.0) for c in class_names]
        axes.bar([i + offset * width - 0.4 + width / 2 for i in range(len(class_names))], recalls, width=width, label=name)
    crowded = len(class_names) > 6
    axes.set_xticks(range(len(class_names)), class_names, rotation=30 if crowded else 0, ha="right" if crowded else "center")
    axes.set(title="Recall per class", ylim=(0, 1.05))
    axes.legend(fontsize="small", loc="lower right")
    return figure


def figure_png(figure) -> str:
    """Return the figure as a base64-encoded PNG."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


# HTML

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1100px; color: #222; }
h1 { font-size: 1.5rem; } h2 { font-size: 1.15rem; margin-top: 2rem; }
table { border-collapse: collapse; margin: 0.5rem 0; } td, th { border: 1px solid #ccc; padding: 0.25rem 0.6rem; text-align: left; vertical-align: top; }
th { background: #f3f3f3; } td.number { text-align: right; font-variant-numeric: tabular-nums; }
figure.plot { margin: 1rem 0; } figure.plot img { max-width: 100%; }
code { white-space: pre-wrap; }
"""


def render_report(details: RunDetails) -> str:
    """Return the report of one run as a self-contained HTML page."""
    run, summary = details.run, details.summary
    title = f"Run {run['name']}"
    parts = [
        f"<h1>{_text(title)}</h1>",
        _facts_table(summary),
        "<h2>Fitness</h2>",
        _figure_html("plot-fitness", "Fitness per step and best so far", fitness_figure(details.candidates, details.steps)),
    ]
    if details.evaluations:
        parts += [
            "<h2>Accuracy</h2>",
            _evaluations_table(details.evaluations),
            _figure_html("plot-accuracy", "Accuracy of the baselines and the optimized ensemble", accuracy_figure(details.evaluations)),
            _figure_html("plot-recall", "Recall per class", recall_figure(details.evaluations, run["class_names"])),
        ]
    else:
        parts.append("<p>The dataset had no labels, so no accuracy is reported.</p>")
    parts += ["<h2>Best ensemble</h2>", _members_table(details.members)]
    if details.pack is not None:
        parts += ["<h2>Best prompts per class</h2>", _prompts_table(details.pack)]
    ranked = details.ranked()
    parts += [
        "<h2>Top candidates</h2>", _candidates_table(ranked[:5]),
        "<h2>Bottom candidates</h2>", _candidates_table(ranked[-5:][::-1] if len(ranked) > 5 else []),
    ]
    body = "\n".join(parts)
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        f"<title>{_text(title)}</title>\n<style>{_STYLE}</style>\n</head>\n<body>\n{body}\n</body>\n</html>\n"
    )


def write_report(store, name_or_id: str | int, path: str | Path) -> Path:
    """Write the HTML report of a run to `path` and return the path."""
    page = render_report(load_run_details(store, name_or_id))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")
    return path


def _text(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def _number(value: Any, digits: int = 4) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]], numeric: Sequence[int] = ()) -> str:
    head = "".join(f"<th>{_text(h)}</th>" for h in headers)
    lines = []
    for row in rows:
        cells = "".join(
            f"<td class=\"number\">{cell}</td>" if index in numeric else f"<td>{cell}</td>" for index, cell in enumerate(row)
        )
        lines.append(f"<tr>{cells}</tr>")
    return f"<table>\n<tr>{head}</tr>\n" + "\n".join(lines) + "\n</table>"


def _facts_table(summary: dict[str, Any]) -> str:
    facts = [
        ("status", summary["status"]), ("dataset", summary["dataset"]), ("target", summary["target_id"]),
        ("LLM", summary["llm_id"]), ("fitness", summary["fitness_name"]), ("seed", summary["seed"]),
        ("steps", f"{summary['last_step'] if summary['last_step'] is not None else '-'} of {summary['planned_steps']}"),
        ("best fitness", _number(summary["best_fitness"])), ("candidates", f"{summary['scored']} scored of {summary['candidates']}"),
        ("LLM calls", summary["llm_calls"]),
        ("tokens", f"{summary['prompt_tokens'] or 0} prompt, {summary['completion_tokens'] or 0} completion"),
        ("created", summary["created_at"]), ("finished", summary["finished_at"] or "not finished"),
    ]
    return _table(["field", "value"], [(_text(k), _text(v)) for k, v in facts])


def _figure_html(element_id: str, caption: str, figure) -> str:
    data = figure_png(figure)
    return (
        f"<figure class=\"plot\" id=\"{element_id}\"><img alt=\"{_text(caption)}\" src=\"data:image/png;base64,{data}\">"
        f"<figcaption>{_text(caption)}</figcaption></figure>"
    )


def _evaluations_table(evaluations: dict[str, dict[str, Any]]) -> str:
    rows = [(_text(n), _number(e["accuracy"]), _number(e["balanced_accuracy"]), _text(e["inputs"])) for n, e in evaluations.items()]
    return _table(["classifier", "accuracy", "balanced accuracy", "inputs"], rows, numeric=(1, 2, 3))


def _members_table(members: Sequence[dict[str, Any]]) -> str:
    rows = [(_text(m["kind"]), f"<code>{_text(m['text'])}</code>", _number(m["weight"], 0), _number(m["candidate_fitness"])) for m in members]
    return _table(["kind", "candidate", "weight", "fitness alone"], rows, numeric=(2, 3))


def _prompts_table(pack: dict[str, Any]) -> str:
    rows = []
    for name in pack["class_names"]:
        distinct = list(dict.fromkeys(pack["class_prompts"][name]))
        shown = "<br>".join(_text(p) for p in distinct[:PROMPTS_SHOWN_PER_CLASS])
        if len(distinct) > PROMPTS_SHOWN_PER_CLASS:
            shown += f"<br>... {len(distinct) - PROMPTS_SHOWN_PER_CLASS} more"
        rows.append((_text(name), shown))
    return _table(["class", "prompts"], rows)


def _candidates_table(candidates: Sequence[dict[str, Any]]) -> str:
    if not candidates:
        return "<p>None.</p>"
    rows = [(_text(c["step"]), _text(c["kind"]), f"<code>{_text(c['text'])}</code>", _number(c["fitness"])) for c in candidates]
    return _table(["step", "kind", "candidate", "fitness"], rows, numeric=(0, 3))
