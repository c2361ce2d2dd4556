"""The package that `pip install -e .` (the README's set-up) builds: every file the libraries load beside their code
is package data, the console commands name real functions, CI installs exactly as the README says, and, once
installed, `python -m sr_core` runs from any folder."""
from __future__ import annotations

import importlib
import importlib.metadata
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tests.app.test_readme_examples import code_blocks
from tests.hub_standin import REPO_ROOT

PYPROJECT = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))
PACKAGES = ("sr_core", "explain")


def data_files(package: str) -> set[Path]:
    """The files under a package that are not Python: what a wheel carries only through package data."""
    root = REPO_ROOT / package
    return {p.relative_to(root) for p in root.rglob("*")
            if p.is_file() and p.suffix not in (".py", ".pyc") and "__pycache__" not in p.parts}


@pytest.mark.parametrize("package", PACKAGES)
def test_every_file_the_code_loads_beside_it_is_package_data(package: str) -> None:
    patterns = PYPROJECT["tool"]["setuptools"]["package-data"][package]
    covered = {p.relative_to(REPO_ROOT / package) for pattern in patterns for p in (REPO_ROOT / package).glob(pattern)}
    assert data_files(package) <= covered, sorted(map(str, data_files(package) - covered))
    assert all(any((REPO_ROOT / package).glob(pattern)) for pattern in patterns), patterns  # no stale pattern


def test_the_bundled_weights_are_package_data() -> None:
    from sr_core.weights import BUNDLED

    shipped = {Path(path).relative_to(REPO_ROOT / "sr_core") for path in BUNDLED.values()}
    patterns = PYPROJECT["tool"]["setuptools"]["package-data"]["sr_core"]
    assert all(any(path.match(pattern) for pattern in patterns) for path in shipped), shipped


def test_the_console_commands_are_the_module_entry_points() -> None:
    for command, target in PYPROJECT["project"]["scripts"].items():
        module, function = target.split(":")
        assert module.split(".")[0] in PACKAGES, command
        assert callable(getattr(importlib.import_module(module), function)), target


def test_ci_installs_and_tests_exactly_as_the_readme_says() -> None:
    set_up, test = code_blocks("## Two commands", "bash")
    assert "pip install -e ." in set_up  # the project itself, so the CLI works from any folder
    ci = (REPO_ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert test.strip() in ci.splitlines()


def test_installed_the_cli_runs_from_any_folder(tmp_path: Path) -> None:
    try:
        installed = importlib.metadata.distribution(PYPROJECT["project"]["name"])
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("the project is not installed (pip install -e .)")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run([sys.executable, "-m", "sr_core", "--help"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, (installed.version, done.stderr)
    assert "upscale" in done.stdout
