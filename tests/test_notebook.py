"""The walkthrough notebook renders with the project's environment (`jupyter nbconvert --execute`), charts and all."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.config import PROJECT_ROOT

pytestmark = pytest.mark.pipeline  # runs on the outputs of `dvc repro`


def test_walkthrough_notebook_renders_with_charts(tmp_path):
    jupyter = Path(sys.executable).with_name("jupyter")
    run = subprocess.run(
        [str(jupyter), "nbconvert", "--to", "html", "--execute", "--output-dir", str(tmp_path),
         "--ExecutePreprocessor.timeout=600", str(PROJECT_ROOT / "notebooks" / "walkthrough.ipynb")],
        capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    page = (tmp_path / "walkthrough.html").read_text()
    assert len(re.findall(r'<img[^>]+src="data:image/png;base64', page)) >= 2  # backtest by year, one bill's dots
    assert "Traceback" not in page  # nbconvert stops at a failing cell anyway
    assert "h44-116.2019" in page and "357" in page and "119hr6508" in page
