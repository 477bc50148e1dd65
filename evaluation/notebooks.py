"""Execute the evaluation notebooks in place (``make notebooks``) and tell when one is stale.

The notebooks in ``notebooks/`` are committed executed, so their tables and plots show on GitHub.
:func:`execute_notebook` runs one top to bottom in a fresh kernel of this interpreter, on its
default configuration (``DRIFTLINE_EVAL_CONFIG`` is removed from the kernel's environment), with
the model trained by the shipped training config into ``artifacts_dir``. It records a digest of
the code it ran in the notebook's metadata (``driftline.sources_sha256``).

A committed notebook is stale when its code changed since it ran (:func:`sources_digest` differs
from the recorded one) or when running it again gives other results: :func:`output_texts` are the
outputs a reader compares -- printed text, tables, the description of each figure and its size in
pixels -- without what changes from run to run by nature (standard error, object addresses).
``tests/notebooks`` checks both.

Example
-------
>>> import nbformat
>>> cell = nbformat.v4.new_code_cell("print(1 + 1)", execution_count=1)
>>> cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="2\\n"),
...                 nbformat.v4.new_output("stream", name="stderr", text="a warning\\n")]
>>> output_texts(nbformat.v4.new_notebook(cells=[cell]))
[['stdout: 2\\n']]
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import hashlib
import json
import os
import platform
import re
import struct
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

__all__ = ["execute_notebook", "main", "notebook_kernel", "output_texts", "sources_digest"]

KERNEL_NAME = "driftline-notebooks"
#: what a committed notebook says its kernel is (the one Jupyter users have)
KERNELSPEC = {"display_name": "Python 3", "language": "python", "name": "python3"}
CELL_TIMEOUT_S = 600
_ADDRESS = re.compile(r"\b0x[0-9a-fA-F]{6,}\b")


def sources_digest(nb: nbformat.NotebookNode) -> str:
    """SHA-256 of the notebook's code cells, in order."""
    code = [cell.source for cell in nb.cells if cell.cell_type == "code"]
    return hashlib.sha256(json.dumps(code).encode("utf-8")).hexdigest()


def _png_size(data: str) -> tuple[int, int]:
    header = base64.b64decode(data[:44])  # signature, then the IHDR chunk: width, height
    width, height = struct.unpack(">II", header[16:24])
    return width, height


def _output_text(output: nbformat.NotebookNode) -> str | None:
    if output.output_type == "stream":
        if output.name == "stderr":
            return None
        return f"{output.name}: {output.text}"
    if output.output_type == "error":
        return f"error: {output.ename}: {output.evalue}"
    data = output.get("data", {})
    parts = [f"{kind}: {data[kind]}" for kind in ("text/markdown", "text/plain") if kind in data]
    if "image/png" in data:
        parts.append("image/png: {}x{} px".format(*_png_size(data["image/png"])))
    return "\n".join(parts)


def output_texts(nb: nbformat.NotebookNode) -> list[list[str]]:
    """Per code cell, its outputs as a reader compares them (see the module docstring)."""
    cells = []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        texts = (_output_text(output) for output in cell.outputs)
        cells.append([_ADDRESS.sub("0x…", text) for text in texts if text is not None])
    return cells


@contextlib.contextmanager
def _environment(**values: str | None) -> Iterator[None]:
    saved = {key: os.environ.get(key) for key in values}
    try:
        for key, value in values.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@contextlib.contextmanager
def notebook_kernel() -> Iterator[str]:
    """A kernel named ``KERNEL_NAME`` running this interpreter (the project's venv, whatever
    ``python`` is on ``PATH``), registered in a temporary ``JUPYTER_PATH``; yields its name."""
    with tempfile.TemporaryDirectory(prefix="driftline-jupyter-") as tmp:
        spec_dir = Path(tmp) / "kernels" / KERNEL_NAME
        spec_dir.mkdir(parents=True)
        (spec_dir / "kernel.json").write_text(json.dumps({
            # ERROR: the kernel warns on every start that loopback TCP is not encrypted
            "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}",
                     "--log-level=ERROR"],
            "display_name": "driftline notebooks", "language": "python",
        }))
        with _environment(JUPYTER_PATH=tmp):
            yield KERNEL_NAME


def _pinned_cpu_capability() -> str | None:
    # torch picks its vectorised kernels by instruction set: a CNN trained on an AVX-512 machine
    # ends in other last bits than on an AVX2 one (the Failing Loudly notebook's BBSD rows then
    # differ). Pinning AVX2, which every x86-64 machine we run on has, makes the outputs the same.
    return "avx2" if platform.machine().lower() in ("x86_64", "amd64") else None


def execute_notebook(path: str | Path, artifacts_dir: str | Path, *,
                     timeout: int = CELL_TIMEOUT_S) -> nbformat.NotebookNode:
    """The notebook at ``path`` executed top to bottom on its default configuration, with the
    model artifacts in ``artifacts_dir``; the file itself is not written."""
    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:  # timings of an earlier run; this one records none (no diff noise)
        cell.metadata.pop("execution", None)
    with notebook_kernel() as kernel, _environment(DRIFTLINE_EVAL_CONFIG=None,
                                                   DRIFTLINE_ARTIFACTS_DIR=str(artifacts_dir),
                                                   ATEN_CPU_CAPABILITY=_pinned_cpu_capability()):
        client = NotebookClient(nb, kernel_name=kernel, timeout=timeout, record_timing=False,
                                resources={"metadata": {"path": str(path.parent)}})
        client.execute()
    nb.metadata["kernelspec"] = dict(KERNELSPEC)
    nb.metadata["driftline"] = {"sources_sha256": sources_digest(nb)}
    return nb


def main(argv: list[str] | None = None) -> int:
    """``python -m driftline.evaluation.notebooks notebooks/*.ipynb`` (``make notebooks``)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("notebooks", nargs="+", type=Path)
    args = parser.parse_args(argv)
    from driftline.model.config import load_train_config
    from driftline.model.train import train_and_save

    with tempfile.TemporaryDirectory(prefix="driftline-artifacts-") as artifacts:
        # the shipped training config, as the tests' session model: never a stale artifacts/
        train_and_save(load_train_config(), artifacts)
        for path in args.notebooks:
            started = time.perf_counter()
            try:
                nb = execute_notebook(path, artifacts)
            except CellExecutionError as exc:
                print(f"{path} failed, left unchanged:\n{exc}", file=sys.stderr)
                return 1
            nbformat.write(nb, path)
            print(f"wrote {path} in {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
