"""The built wheel ships the meta-prompts and the installed package finds them."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_wheel_ships_and_finds_meta_prompts(tmp_path):
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", "-w", str(tmp_path), str(ROOT)],
        check=True, capture_output=True,
    )
    wheel = next(tmp_path.glob("agent-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    shipped = sorted(name for name in names if name.startswith("agent/prompts/") and name.endswith(".txt"))
    expected = sorted(f"agent/prompts/{p.name}" for p in (ROOT / "prompts").glob("*.txt"))
    assert shipped == expected
    assert "agent/pack_schema.json" in names

    site = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(site), str(wheel)],
        check=True, capture_output=True,
    )
    code = (
        f"import sys; sys.path.insert(0, {str(site)!r});"
        "import agent.propose as p; print(p.__file__); print(p.load_meta_prompt('text_template')[:5])"
    )
    output = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True, cwd=tmp_path).stdout
    module_path, prompt_start = output.splitlines()
    assert module_path.startswith(str(site))
    assert prompt_start == "Task:"
