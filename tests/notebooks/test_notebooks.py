"""The evaluation notebooks are committed executed, and not stale.

* Committed executed: every code cell ran, in order, without error, in one fresh kernel, from
  the code the notebook holds now (``driftline.evaluation.notebooks`` records a digest of it);
  the figures are there, and the outputs show what each notebook is for.
* Not stale: executed again on the same configuration (their default,
  ``configs/evaluate_notebooks.yaml``) with the model trained by the shipped training config,
  they give the same outputs as the committed ones (printed text, tables, each figure's
  description and size; see ``output_texts``).

When this fails after a change, ``make notebooks`` regenerates them.
"""

from __future__ import annotations

import difflib
import importlib.util
from pathlib import Path

import nbformat
import pytest

from driftline.evaluation.notebooks import execute_notebook, output_texts, sources_digest

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ["compare_detectors.ipynb", "insurance_drift.ipynb", "failing_loudly.ipynb"]
REGENERATE = "run `make notebooks` and commit the notebooks"

#: what each notebook must show: a text fragment per claim, and how many figures
EXPECTED = {
    "compare_detectors.ipynb": (
        ["evaluate_notebooks.yaml - seeds [0, 1, 2] - target ARL0 500",
         "| baseline.always_fire | mean_shift_1 | - | 0.00 ± 0.00 |",
         # scikit-multiflow is optional (make skmultiflow): listed as skipped when absent
         "skipped: skmultiflow.PageHinkley" if importlib.util.find_spec("skmultiflow") is None
         else "| skmultiflow.PageHinkley | mean_shift_1 |",
         "measured ARL0=",
         "| page_hinkley | no_drift |",
         "baseline.always_fire [(1.0, 10000.0, 0.0)]"],
        2),
    "failing_loudly.ipynb": (
        ["evaluate_failing_loudly_notebook.yaml - 6 repetitions - sample sizes [20, 100, 500]",
         "CNN accuracy on the held-out pool: 0.98",
         "| KS, Bonferroni | BBSDs |",
         "| MMD | UAE |",
         "| χ² classes | BBSDh |",
         "| knockout |",
         "Failing Loudly (MNIST and CIFAR-10",
         "False-positive rate without shift"],
        1),
    "insurance_drift.ipynb": (
        ["54000 rows over months [1, 2, 3,",
         "### Model quality by month",
         "page_hinkley     age",
         "incremental_ks   miles",
         "fallback rate by month:"],
        3),
}


def _committed(name: str) -> nbformat.NotebookNode:
    return nbformat.read(ROOT / "notebooks" / name, as_version=4)


def _outputs(nb: nbformat.NotebookNode) -> list[nbformat.NotebookNode]:
    return [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_is_committed_executed(name: str) -> None:
    nb = _committed(name)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert [c.execution_count for c in code] == list(range(1, len(code) + 1)), (
        f"{name} was not executed top to bottom in one fresh kernel: {REGENERATE}")
    assert nb.metadata.get("driftline", {}).get("sources_sha256") == sources_digest(nb), (
        f"the code of {name} changed since its outputs were made: {REGENERATE}")
    assert not [o for o in _outputs(nb) if o.output_type == "error"]
    assert nb.metadata["kernelspec"]["name"] == "python3"


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_shows_what_it_is_for(name: str) -> None:
    nb = _committed(name)
    text = "\n".join(t for cell in output_texts(nb) for t in cell)
    fragments, n_figures = EXPECTED[name]
    for fragment in fragments:
        assert fragment in text, f"{name} does not show {fragment!r}"
    images = [o for o in _outputs(nb) if "image/png" in o.get("data", {})]
    assert len(images) == n_figures, f"{name} shows {len(images)} figures, not {n_figures}"


def _diff(committed: list[list[str]], current: list[list[str]]) -> str:
    lines = []
    for i, (old, new) in enumerate(zip(committed, current, strict=True)):
        if old != new:
            lines += difflib.unified_diff("\n".join(old).splitlines(),
                                          "\n".join(new).splitlines(),
                                          f"code cell {i + 1}, committed",
                                          f"code cell {i + 1}, now", lineterm="", n=1)
    return "\n".join(lines[:60])


@pytest.mark.slow
@pytest.mark.parametrize("name", NOTEBOOKS)
def test_committed_outputs_are_current(name: str, artifacts_dir: Path) -> None:
    committed = output_texts(_committed(name))
    current = output_texts(execute_notebook(ROOT / "notebooks" / name, artifacts_dir))
    assert len(current) == len(committed)
    assert current == committed, (
        f"{name} is stale ({REGENERATE}):\n{_diff(committed, current)}")
