"""Prompt packs: the exported result of a run, usable without the history database."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Sequence

from agent.candidates import Candidate

FORMAT = "agent-prompt-pack"
FORMAT_VERSION = 1


def build_pack(
    *,
    target_id: str,
    modality: str,
    class_names: Sequence[str],
    members: Sequence[tuple[Candidate, float, float]],
    fitness_name: str,
    fitness_value: float,
    evaluation: dict[str, Any] | None,
    provenance: dict[str, Any],
) -> dict[str, Any]:
    """Assemble a pack from ensemble members given as (candidate, weight, fitness).

    `class_prompts` repeats each member's prompts by its integer weight, so the mean of
    the unit embeddings of a class's listed prompts is exactly the run's class embedding.
    """
    class_prompts: dict[str, list[str]] = {name: [] for name in class_names}
    templates, variants, descriptions = [], {name: [] for name in class_names}, {name: [] for name in class_names}
    for candidate, weight, _ in members:
        repeats = int(round(weight))
        for name, prompts in zip(class_names, candidate.prompts(class_names)):
            class_prompts[name].extend(prompts * repeats)
        if candidate.kind == "template":
            templates.append(candidate.payload)
        elif candidate.kind == "names":
            for name in class_names:
                variants[name].append(candidate.payload[name])
        else:
            for name in class_names:
                descriptions[name].extend(candidate.payload[name])
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "target": target_id,
        "modality": modality,
        "class_names": list(class_names),
        "class_prompts": class_prompts,
        "templates": templates,
        "class_name_variants": variants,
        "descriptions": descriptions,
        "members": [
            {"kind": c.kind, "text": c.text, "weight": w, "fitness": f} for c, w, f in members
        ],
        "fitness": {"name": fitness_name, "value": fitness_value},
        "evaluation": evaluation,
        "provenance": {**provenance, "exported_at": datetime.now(timezone.utc).isoformat(timespec="seconds")},
    }


def write_pack(pack: dict[str, Any], path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(pack, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path
