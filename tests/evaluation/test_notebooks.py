"""Executing notebooks and comparing their outputs (what the notebook staleness test relies on)."""

from __future__ import annotations

import base64
import struct
import zlib
from pathlib import Path

import nbformat
import pytest

from driftline.evaluation.notebooks import (
    execute_notebook,
    main,
    output_texts,
    sources_digest,
)


def _png(width: int, height: int) -> str:
    """A valid one-colour PNG of the given size, base64 as in a notebook."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data)))

    rows = b"".join(b"\x00" + b"\xff" * width for _ in range(height))
    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0,
                                                                  0, 0, 0))
           + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))
    return base64.b64encode(png).decode("ascii")


def _notebook(*sources: str) -> nbformat.NotebookNode:
    cells = [nbformat.v4.new_markdown_cell("# a title")]
    cells += [nbformat.v4.new_code_cell(s) for s in sources]
    return nbformat.v4.new_notebook(cells=cells)


def test_output_texts_keep_what_a_reader_compares() -> None:
    nb = _notebook("print(2)", "fig")
    nb.cells[1].outputs = [
        nbformat.v4.new_output("stream", name="stdout", text="2\n"),
        nbformat.v4.new_output("stream", name="stderr", text="DeprecationWarning: ...\n"),
    ]
    nb.cells[2].outputs = [nbformat.v4.new_output(
        "display_data", data={"text/plain": "<Figure at 0x7f3a2b1c9d10>",
                              "image/png": _png(30, 20)})]
    assert output_texts(nb) == [
        ["stdout: 2\n"],
        ["text/plain: <Figure at 0x…>\nimage/png: 30x20 px"],
    ]


def test_output_texts_see_a_different_figure_size_and_errors() -> None:
    nb = _notebook("fig")
    nb.cells[1].outputs = [nbformat.v4.new_output("display_data",
                                                  data={"image/png": _png(30, 20)})]
    before = output_texts(nb)
    nb.cells[1].outputs[0].data["image/png"] = _png(31, 20)
    assert output_texts(nb) != before
    nb.cells[1].outputs = [nbformat.v4.new_output("error", ename="ValueError", evalue="bad",
                                                  traceback=[])]
    assert output_texts(nb) == [["error: ValueError: bad"]]


def test_sources_digest_follows_the_code_only() -> None:
    nb = _notebook("x = 1", "print(x)")
    digest = sources_digest(nb)
    nb.cells[0].source = "# another title"
    nb.cells[1].outputs = [nbformat.v4.new_output("stream", name="stdout", text="1\n")]
    assert sources_digest(nb) == digest
    nb.cells[2].source = "print(x + 1)"
    assert sources_digest(nb) != digest


@pytest.mark.slow
def test_execution_in_a_fresh_kernel_reveals_stale_outputs(tmp_path: Path) -> None:
    nb = _notebook("import os\nprint(os.environ['DRIFTLINE_ARTIFACTS_DIR'])",
                   "print(sum(range(4)))")
    nb.cells[2].outputs = [nbformat.v4.new_output("stream", name="stdout", text="5\n")]
    nb.cells[2].execution_count = 1
    nb.cells[2].metadata["execution"] = {"iopub.status.busy": "2026-12-01T10:00:00Z"}
    path = tmp_path / "stale.ipynb"
    nbformat.write(nb, path)
    executed = execute_notebook(path, tmp_path / "model")
    assert output_texts(executed) == [[f"stdout: {tmp_path / 'model'}\n"], ["stdout: 6\n"]]
    assert output_texts(executed) != output_texts(nb)  # the committed "5" was stale
    assert [c.execution_count for c in executed.cells[1:]] == [1, 2]
    assert executed.metadata["driftline"]["sources_sha256"] == sources_digest(nb)
    assert executed.metadata["kernelspec"]["name"] == "python3"
    # no timestamps: re-executing an unchanged notebook leaves its file unchanged
    assert not [c for c in executed.cells if "execution" in c.metadata]
    assert nbformat.read(path, as_version=4).cells[2].outputs[0].text == "5\n"  # not written


@pytest.mark.slow
def test_main_leaves_a_failing_notebook_unchanged(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "broken.ipynb"
    nbformat.write(_notebook("raise ValueError('no data here')"), path)
    before = path.read_text()
    assert main([str(path)]) == 1
    assert "no data here" in capsys.readouterr().err
    assert path.read_text() == before
