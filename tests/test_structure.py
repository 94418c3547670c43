"""The house rules that code review alone would let slip: what may import what, and how long a function may be."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.config import PROJECT_ROOT

pytestmark = pytest.mark.unit

ROOMS = ("pipeline", "features", "models", "forecasts")  # lowest first; [tool.importlinter] in pyproject.toml
CHECKED_FOR_LENGTH = ("pipeline", "features", "models")
MAX_FUNCTION_LINES = 50


def _lint_imports(root: Path) -> subprocess.CompletedProcess:
    """Run import-linter on the packages under ``root`` with the project's contract (pyproject.toml)."""
    env = {**os.environ, "PYTHONPATH": str(root)}
    command = "import sys; from importlinter.cli import lint_imports_command; sys.exit(lint_imports_command())"
    return subprocess.run(
        [sys.executable, "-c", command, "--no-cache", str(PROJECT_ROOT / "pyproject.toml")],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_rooms_import_only_downwards():
    done = _lint_imports(PROJECT_ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 kept, 0 broken" in done.stdout


UPWARD_IMPORTS = {  # module -> an import that breaks the layers
    "pipeline/ids.py": "features.history",
    "features/history.py": "models.metrics",
    "models/metrics.py": "forecasts",
}


def test_an_upward_import_breaks_the_contract(tmp_path):
    """The check is live: a copy of the code with upward imports fails it, naming every importer."""
    for room in ROOMS:
        shutil.copytree(PROJECT_ROOT / room, tmp_path / room, ignore=shutil.ignore_patterns("__pycache__"))
    for module, imported in UPWARD_IMPORTS.items():
        path = tmp_path / module
        path.write_text(f"import {imported}  # noqa\n" + path.read_text())
    done = _lint_imports(tmp_path)
    assert done.returncode != 0 and "BROKEN" in done.stdout
    for module, imported in UPWARD_IMPORTS.items():
        assert f"{module.removesuffix('.py').replace('/', '.')} -> {imported}" in done.stdout, module


def _long_functions(source: str, limit: int) -> list[tuple[str, int]]:
    """(name, lines) of every function or method in ``source`` longer than ``limit`` lines, decorators excluded."""
    return [
        (node.name, node.end_lineno - node.lineno + 1)
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.end_lineno - node.lineno + 1 > limit
    ]


def test_the_length_check_sees_a_long_function():
    body = "\n".join(f"    x{i} = {i}" for i in range(50))
    assert _long_functions(f"def f():\n{body}\n", MAX_FUNCTION_LINES) == [("f", 51)]
    assert _long_functions(f"class A:\n  def g(self):\n{body}\n", 50) == [("g", 51)]
    assert _long_functions("def f():\n    return 1\n", MAX_FUNCTION_LINES) == []


def test_no_function_is_longer_than_50_lines():
    found = [
        f"{path.relative_to(PROJECT_ROOT)}:{name} ({lines} lines)"
        for room in CHECKED_FOR_LENGTH
        for path in sorted((PROJECT_ROOT / room).rglob("*.py"))
        for name, lines in _long_functions(path.read_text(), MAX_FUNCTION_LINES)
    ]
    assert not found, "split these along their jobs: " + ", ".join(found)


def stage_code_not_in_deps(dvc_yaml: dict, graph) -> dict[str, list[str]]:
    """For each stage run as ``python -m <module>``, the project's modules it imports (transitively) whose files no
    dependency of the stage covers: editing one of them would not rerun the stage."""
    missing = {}
    for name, stage in dvc_yaml["stages"].items():
        words = stage["cmd"].split()
        if words[:2] != ["python", "-m"]:
            continue
        module = words[2]
        deps = [str(d) for d in stage.get("deps", [])]
        imported = {module} | graph.find_upstream_modules(module)
        uncovered = []
        for other in sorted(imported):
            path = other.replace(".", "/")
            path = f"{path}/__init__.py" if (PROJECT_ROOT / path).is_dir() else f"{path}.py"
            if not any(path == d or path.startswith(d.rstrip("/") + "/") for d in deps):
                uncovered.append(path)
        if uncovered:
            missing[name] = uncovered
    return missing


def test_every_stage_depends_on_the_code_it_runs():
    """`dvc repro` reruns a stage when one of its deps changes, so the deps must cover every project module the
    stage imports; otherwise a code change leaves stale outputs that look current."""
    import grimp
    import yaml

    graph = grimp.build_graph(*ROOMS, include_external_packages=False, cache_dir=None)
    dvc_yaml = yaml.safe_load((PROJECT_ROOT / "dvc.yaml").read_text())
    assert stage_code_not_in_deps(dvc_yaml, graph) == {}
    # the check is live: without its own module a stage is reported
    dvc_yaml["stages"]["catalog"]["deps"] = [d for d in dvc_yaml["stages"]["catalog"]["deps"] if not d.endswith(".py")]
    assert "features/catalog.py" in stage_code_not_in_deps(dvc_yaml, graph)["catalog"]


def test_stage_paths_come_from_params():
    """A stage's directories are named once, in params.yaml `paths`: dvc.yaml passes `--<name> ${paths.<name>}`
    and the stage's defaults (for runs by hand, the CLI and tests) read the same entry."""
    import re

    import yaml

    from pipeline.config import PATHS, load_params, stage_arguments

    dvc_yaml = yaml.safe_load((PROJECT_ROOT / "dvc.yaml").read_text())
    passed = 0
    for name, stage in dvc_yaml["stages"].items():
        for flag, value in re.findall(r"--(\w+) (\S+)", stage["cmd"]):
            if flag in PATHS:
                assert value == f"${{paths.{flag}}}", (name, flag, value)
                passed += 1
    assert passed >= 12
    assert {name: PROJECT_ROOT / path for name, path in load_params()["paths"].items()} == PATHS
    assert stage_arguments("x", "tables", argv=["--tables", "elsewhere"]).tables == Path("elsewhere")
    assert stage_arguments("x", "tables", argv=[]).tables == PATHS["tables"]
    # dvc.yaml's top-level plots cannot be interpolated: they must name files under paths.plots
    plot_files = [p if isinstance(p, str) else next(iter(next(iter(p.values()))["y"])) for p in dvc_yaml["plots"]]
    assert all(f.startswith(load_params()["paths"]["plots"] + "/") for f in plot_files), plot_files
