"""Data flows one way, image -> sr_core -> explain -> app.py: importing a lower layer never loads a higher one.

Each import runs in a fresh interpreter, so nothing another test imported can hide a stray import."""
from __future__ import annotations

import ast
import json
import subprocess
import sys

import pytest

from tests.hub_standin import REPO_ROOT

PROBE = """
import importlib, json, pkgutil, sys
package = importlib.import_module(sys.argv[1])
for module in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
    if not module.name.endswith(".__main__"):  # that one runs the command line
        importlib.import_module(module.name)
print(json.dumps(sorted({name.split(".")[0] for name in sys.modules})))
"""


def top_level_modules_loaded_by(package: str) -> set[str]:
    """Every top-level module loaded by importing `package` and each of its modules."""
    done = subprocess.run([sys.executable, "-c", PROBE, package], cwd=REPO_ROOT, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    return set(json.loads(done.stdout.strip().splitlines()[-1]))


@pytest.mark.parametrize("package, never", [
    ("sr_core", {"gradio", "explain", "app", "app_serving", "plotly"}),
    ("explain", {"gradio", "app", "app_serving"}),
])
def test_a_layer_never_loads_the_layers_above_it(package: str, never: set[str]) -> None:
    loaded = top_level_modules_loaded_by(package)
    assert package in loaded  # the probe imported what it was asked to
    assert not loaded & never, f"importing {package} loaded {sorted(loaded & never)}"


@pytest.mark.parametrize("package, never", [
    ("sr_core", {"gradio", "explain", "app", "app_serving", "plotly"}),
    ("explain", {"gradio", "app", "app_serving"}),
])
def test_no_import_inside_a_function_reaches_up_either(package: str, never: set[str]) -> None:
    """The fresh-interpreter probe sees imports made at load time; the CLIs import lazily inside functions."""
    found = []
    for path in sorted((REPO_ROOT / package).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) and node.level == 0 else [])
            found += [f"{path.relative_to(REPO_ROOT)}:{node.lineno} {n}" for n in names if n.split(".")[0] in never]
    assert not found, found


def test_only_the_batch_module_imports_ray() -> None:
    """Ray is an optional dependency (requirements-batch.txt): sr_core.batch imports it lazily, nothing else at all,
    so the app, the other commands and `import sr_core` work without it."""
    sources = [REPO_ROOT / "app.py", *(p for folder in ("app_serving", "sr_core", "explain", "bench") for p in (REPO_ROOT / folder).rglob("*.py"))]
    found, eager = [], []
    for path in sources:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        in_functions = {id(inner) for node in ast.walk(tree) if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
                        for inner in ast.walk(node)}
        for node in ast.walk(tree):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) and node.level == 0 else [])
            if any(n.split(".")[0] == "ray" for n in names):
                found.append(str(path.relative_to(REPO_ROOT)))
                if id(node) not in in_functions:  # loaded with the module: ray would be required
                    eager.append(f"{path.relative_to(REPO_ROOT)}:{node.lineno}")
    assert sorted(set(found)) == ["sr_core/batch.py"] and not eager, (found, eager)
