"""The walkthrough notebook runs end to end on the pipeline's outputs."""

from __future__ import annotations

import nbformat
import pytest
from nbclient import NotebookClient

from pipeline.config import PROJECT_ROOT

pytestmark = pytest.mark.pipeline  # runs on the outputs of `dvc repro`


def test_walkthrough_notebook_executes():
    path = PROJECT_ROOT / "notebooks" / "walkthrough.ipynb"
    notebook = nbformat.read(path, as_version=4)
    NotebookClient(
        notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    ).execute()
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    text = "".join(str(o.get("data", {}).get("text/plain", "")) + str(o.get("text", "")) for o in outputs)
    assert "h44-116.2019" in text and "357" in text and "119hr6508" in text
