"""The scikit-multiflow installer: patches apply all-or-nothing and name what did not match,
the sdist is checked, the run-time needs equal pyproject's extra, and an installed build carries
the patches. (The build itself runs in ``make skmultiflow``, which ``make test`` runs first.)"""

from __future__ import annotations

import doctest
import hashlib
import importlib.util
import inspect
import sys
import tomllib
from pathlib import Path

import pytest

from driftline.evaluation import install_skmultiflow
from driftline.evaluation.install_skmultiflow import (
    RUNTIME_REQUIREMENTS,
    SDIST_SHA256,
    SDIST_VERSION,
    BuildError,
    SourcePatch,
    _verified_sdist,
    apply_source_patches,
    main,
)

ROOT = Path(__file__).resolve().parents[2]
INSTALLED = importlib.util.find_spec("skmultiflow") is not None


def test_docstring_example_runs() -> None:
    result = doctest.testmod(install_skmultiflow)
    assert result.attempted > 0 and result.failed == 0


def test_runtime_requirements_are_the_pyproject_extra() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    extra = pyproject["project"]["optional-dependencies"]["skmultiflow"]
    assert sorted(extra) == sorted(RUNTIME_REQUIREMENTS)


def _tree(tmp_path: Path) -> Path:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "a.py").write_text("x = np.float\ny = np.float\n")
    (tmp_path / "pkg" / "b.py").write_text("import old\n")
    return tmp_path


def test_patches_replace_the_expected_occurrences(tmp_path: Path) -> None:
    root = _tree(tmp_path)
    apply_source_patches(root, (
        SourcePatch("pkg/a.py", "np.float\n", "np.float64\n", "alias", count=2),
        SourcePatch("pkg/b.py", "import old\n", "import new\n", "renamed"),
    ))
    assert (root / "pkg" / "a.py").read_text() == "x = np.float64\ny = np.float64\n"
    assert (root / "pkg" / "b.py").read_text() == "import new\n"


def test_a_patch_that_does_not_match_writes_nothing_and_names_the_file(tmp_path: Path) -> None:
    root = _tree(tmp_path)
    with pytest.raises(BuildError, match=r"pkg/b.py \(renamed\): expected 1 occurrence.*found 0"):
        apply_source_patches(root, (
            SourcePatch("pkg/a.py", "np.float\n", "np.float64\n", "alias", count=2),
            SourcePatch("pkg/b.py", "import gone\n", "import new\n", "renamed"),
        ))
    assert (root / "pkg" / "a.py").read_text() == "x = np.float\ny = np.float\n"
    with pytest.raises(BuildError, match=r"expected 1 occurrence.*found 2"):
        apply_source_patches(root, (SourcePatch("pkg/a.py", "np.float\n", "float\n", "alias"),))
    with pytest.raises(BuildError, match=r"pkg/c\.py is not in the sdist"):
        apply_source_patches(root, (SourcePatch("pkg/c.py", "a", "b", "missing"),))


def test_only_the_expected_sdist_is_accepted(tmp_path: Path) -> None:
    sdist = tmp_path / f"scikit-multiflow-{SDIST_VERSION}.tar.gz"
    sdist.write_bytes(b"not the release")
    with pytest.raises(BuildError, match=f"is not the expected {SDIST_SHA256}"):
        _verified_sdist(tmp_path)
    assert hashlib.sha256(b"not the release").hexdigest() != SDIST_SHA256
    with pytest.raises(BuildError, match="expected one scikit-multiflow sdist"):
        _verified_sdist(tmp_path / "nowhere")


@pytest.mark.skipif(not INSTALLED, reason="scikit-multiflow is not installed")
def test_the_installed_build_carries_the_patches() -> None:
    import numpy as np
    import skmultiflow.core.pipeline
    import skmultiflow.drift_detection.kswin
    import skmultiflow.metrics._classification_performance_evaluator as evaluator

    assert 'method="exact"' in inspect.getsource(skmultiflow.drift_detection.kswin)
    assert "from sklearn.utils import tosequence" not in inspect.getsource(
        skmultiflow.core.pipeline)
    assert skmultiflow.core.pipeline.tosequence((1, 2)) == (1, 2)
    assert skmultiflow.core.pipeline.tosequence(iter([1, 2])) == [1, 2]
    assert evaluator.DTYPE is np.float64


@pytest.mark.skipif(not INSTALLED, reason="scikit-multiflow is not installed")
def test_installer_does_nothing_when_already_installed(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--python", sys.executable]) == 0
    assert "already imports" in capsys.readouterr().out


def test_installer_reports_a_failed_step(capsys: pytest.CaptureFixture[str],
                                         tmp_path: Path) -> None:
    """A target interpreter without numpy: a clear error, exit code 1, nothing built."""
    fake = tmp_path / "python"
    fake.write_text("#!/bin/sh\nexit 1\n")
    fake.chmod(0o755)
    assert main(["--python", str(fake), "--build-dir", str(tmp_path / "build")]) == 1
    assert "cannot import numpy" in capsys.readouterr().err
    assert not (tmp_path / "build").exists()
