"""docs/quickstart.ipynb runs end to end, headless, on the demo dataset and the bundled LLM."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

NOTEBOOK = Path(__file__).resolve().parents[1] / "docs" / "quickstart.ipynb"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        importlib.util.find_spec("llama_cpp") is None,
        reason="llama-cpp-python is not installed, so the bundled LLM cannot run (pip install llama-cpp-python)",
    ),
]


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    nbclient = pytest.importorskip("nbclient")
    nbformat = pytest.importorskip("nbformat")
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    workdir = tmp_path_factory.mktemp("notebook")
    # The kernel spec "python3" runs `python -m ipykernel_launcher`; jupyter_client swaps a
    # bare "python" for sys.executable, so the kernel uses this interpreter and its packages.
    client = nbclient.NotebookClient(
        notebook, kernel_name="python3", timeout=900, resources={"metadata": {"path": str(workdir)}}
    )
    client.execute()
    return notebook, workdir


def outputs_text(cell) -> str:
    parts = []
    for output in cell.get("outputs", []):
        parts.append(output.get("text", ""))
        parts.append(output.get("data", {}).get("text/plain", ""))
    return "\n".join(parts)


def code_cells(notebook):
    return [cell for cell in notebook.cells if cell.cell_type == "code"]


def test_kernel_uses_this_interpreter(executed):
    notebook, _ = executed
    assert sys.executable in outputs_text(code_cells(notebook)[0])


def test_no_cell_errors(executed):
    notebook, _ = executed
    errors = [o for cell in code_cells(notebook) for o in cell.get("outputs", []) if o["output_type"] == "error"]
    assert errors == []


def test_plot_rendered(executed):
    notebook, _ = executed
    plot_cell = next(cell for cell in code_cells(notebook) if cell.source.strip() == "result.plot()")
    assert any("image/png" in output.get("data", {}) for output in plot_cell.outputs)


def test_pack_written(executed):
    _, workdir = executed
    assert (workdir / "quickstart-pack.json").is_file()


def test_classify_output(executed):
    notebook, _ = executed
    classify_cell = next(cell for cell in code_cells(notebook) if "pack.classify" in cell.source)
    assert outputs_text(classify_cell).strip().startswith("[")


def test_reopened_run_finished(executed):
    notebook, _ = executed
    assert "'finished'" in outputs_text(code_cells(notebook)[-1])
