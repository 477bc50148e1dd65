"""The root conftest.py collects every docstring example of the package, under its installed
``driftline.`` name, when plain ``pytest`` runs (``testpaths``), and never imports a folder as a
top-level module."""

from __future__ import annotations

import doctest
import importlib
import json
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Runs pytest (its arguments: this script's) in a fresh interpreter and reports what it
# collected and which modules it imported.
PYTEST = """
import json, sys
import pytest

class Recorder:
    ids = []
    def pytest_collection_finish(self, session):
        self.ids = [item.nodeid for item in session.items]

recorder = Recorder()
status = pytest.main(["-q", "-p", "no:cacheprovider", *sys.argv[1:]], plugins=[recorder])
print(json.dumps({"status": int(status), "ids": recorder.ids, "modules": sorted(sys.modules)}))
"""


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def _folders() -> list[str]:
    packages = _pyproject()["tool"]["setuptools"]["packages"]
    return sorted({name.split(".")[1] for name in packages})


def _expected_ids(folders: list[str]) -> set[str]:
    """Every docstring with examples, found by the standard library's finder."""
    ids = set()
    for folder in folders:
        for path in sorted((ROOT / folder).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            module = importlib.import_module(".".join(["driftline", *parts]))
            for test in doctest.DocTestFinder().find(module, module.__name__):
                if test.examples:
                    ids.add(f"{path.relative_to(ROOT).as_posix()}::{test.name}")
    return ids


def _pytest(*args: str) -> dict:
    result = subprocess.run([sys.executable, "-c", PYTEST, *args], cwd=ROOT,
                            capture_output=True, text=True, check=False, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_plain_pytest_reaches_every_package_folder() -> None:
    testpaths = _pyproject()["tool"]["pytest"]["ini_options"]["testpaths"]
    assert set(testpaths) == {"tests", *_folders()}


def test_every_docstring_example_is_collected_under_its_installed_name() -> None:
    folders = _folders()
    collected = _pytest("--collect-only", *folders)
    assert collected["status"] == 0
    expected = _expected_ids(folders)
    assert len(expected) > 40  # most public modules carry an example
    assert set(collected["ids"]) == expected


def test_examples_run_against_the_installed_modules_only() -> None:
    ran = _pytest("utils")
    assert ran["status"] == 0
    assert "utils/progress.py::driftline.utils.progress" in ran["ids"]
    # pytest's own --doctest-modules (or a Package collector's set-up) would have imported
    # ``utils`` / ``utils.progress`` as top-level modules: a second copy of each
    assert "driftline.utils.progress" in ran["modules"]
    assert not [m for m in ran["modules"] if m.split(".")[0] in _folders()]


def test_pytest_on_the_tests_folder_runs_no_docstring_example() -> None:
    collected = _pytest("--collect-only", "tests/utils")
    assert collected["ids"]
    assert all(i.startswith("tests/utils/") for i in collected["ids"])


def test_doctest_modules_option_adds_no_second_copy() -> None:
    plain = _pytest("--collect-only", "utils")
    with_option = _pytest("--collect-only", "--doctest-modules", "utils")
    assert with_option["ids"] == plain["ids"]
    assert not [m for m in with_option["modules"] if m.split(".")[0] in _folders()]
