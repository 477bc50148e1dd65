"""Run every docstring example of the package under its installed name, ``driftline.<pkg>.<mod>``.

The package folders sit at the repository root and are installed as ``driftline.<folder>``
(``package-dir = {driftline = "."}``), so ``pytest --doctest-modules`` would import them under
the wrong names (``detectors.adwin``) and run a second copy of every module. Instead, for the
package folders listed in ``pyproject.toml`` (``[tool.setuptools] packages``; plain ``pytest``
reaches them through ``testpaths``), this plugin:

* collects each folder as a plain directory, never as a ``Package``, whose set-up would import
  its ``__init__.py`` as a top-level module;
* collects each ``.py`` file as pytest's own doctest module, whose module object is imported as
  ``driftline.<folder>.<module>``, so the examples run against the modules everybody else uses.

``pytest detectors`` runs the detectors' examples alone; ``pytest tests`` runs no example;
``--doctest-modules`` changes nothing (the examples already run, under the right names).
"""

from __future__ import annotations

import importlib
import tomllib
from pathlib import Path
from types import ModuleType

import pytest
from _pytest.doctest import DoctestModule

ROOT = Path(__file__).resolve().parent
DISTRIBUTION = "driftline"


def package_folders() -> list[Path]:
    """Top-level folders of the packages the distribution ships (from ``pyproject.toml``)."""
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    names = {p.split(".")[1] for p in setuptools["packages"] if p.startswith(f"{DISTRIBUTION}.")}
    return sorted(ROOT / name for name in names)


PACKAGE_FOLDERS = package_folders()


def installed_module_name(path: Path) -> str:
    """``detectors/adwin.py`` -> ``driftline.detectors.adwin`` (``__init__.py``: the package)."""
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join([DISTRIBUTION, *parts])


def _in_package(path: Path) -> bool:
    return any(path == folder or folder in path.parents for folder in PACKAGE_FOLDERS)


class InstalledDoctestModule(DoctestModule):
    """pytest's doctest collector, with the module imported under its installed name."""

    def _getobj(self) -> ModuleType:
        return importlib.import_module(installed_module_name(self.path))


def pytest_configure(config: pytest.Config) -> None:
    # pytest's own --doctest-modules would collect the package folders a second time, imported
    # under top-level names; this plugin already runs their examples, so it takes the option over
    config.option.doctestmodules = False


@pytest.hookimpl(tryfirst=True)
def pytest_collect_directory(path: Path, parent: pytest.Collector) -> pytest.Dir | None:
    if _in_package(path):
        return pytest.Dir.from_parent(parent, path=path)
    return None


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> DoctestModule | None:
    if file_path.suffix == ".py" and _in_package(file_path):
        return InstalledDoctestModule.from_parent(parent, path=file_path)
    return None
