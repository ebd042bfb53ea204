"""The notebooks run top to bottom (against the tiny test model and the mini datasets, so they
never rot) and are committed without outputs."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from tests.datasets_fixture import mini_datasets  # noqa: F401 (fixture)

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
CELL_TIMEOUT_S = 120


def test_the_three_notebooks_exist():
    assert [p.name for p in NOTEBOOKS] == ["01_coalition_thread.ipynb",
                                           "02_error_analysis.ipynb",
                                           "03_retrain_and_compare.ipynb"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_committed_without_outputs(path):
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, (
                f"{path.name}: strip outputs before committing (Jupyter: Clear All Outputs)")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_on_the_tiny_model(path, tiny_model, tiny_base, mini_datasets,  # noqa: F811
                                         monkeypatch):
    monkeypatch.setenv("CIVILITY_NOTEBOOK_MODEL", str(tiny_model))
    monkeypatch.setenv("CIVILITY_NOTEBOOK_DATA", str(mini_datasets))
    monkeypatch.setenv("CIVILITY_NOTEBOOK_CONFIG", str(ROOT / "configs" / "smoke.yaml"))
    monkeypatch.setenv("CIVILITY_NOTEBOOK_BASE", str(tiny_base))
    monkeypatch.setenv("CIVILITY_NOTEBOOK_STEPS", "6")
    monkeypatch.setenv("CIVILITY_NOTEBOOK_ROWS", "40")
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(notebook, timeout=CELL_TIMEOUT_S, kernel_name="python3",
                            resources={"metadata": {"path": str(ROOT)}})
    client.execute()  # raises CellExecutionError with the failing cell's traceback
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert "tiny@0.0.1" in text  # it scored with the model it was pointed at
