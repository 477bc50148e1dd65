"""How the worked examples' data files were cut from the tables river ships (river 0.26.1
wheel, ``river/datasets/``, each a zip archive of one CSV file): a seeded random split of the
rows into a reference file and a stream file, each keeping river's row order, gzipped with a
zero timestamp. The solar-flare rows
also get a ``c_flare`` column (``yes`` when ``c-class-flares`` > 0). ``test_examples.py``
rebuilds them with :func:`split_rows` and compares them byte for byte with the committed files.
"""

from __future__ import annotations

import gzip
import io
import zipfile
from pathlib import Path

import numpy as np

#: example -> (river file, reference rows, split seed)
SOURCES = {"solar_flare": ("solar-flare.csv.zip", 466, 0),
           "image_segments": ("segment.csv.zip", 1010, 0)}


def river_table(name: str) -> Path:
    """The path of a table in the installed river wheel."""
    import river.datasets

    return Path(river.datasets.__file__).parent / name


def _with_flare_label(header: str, lines: list[str]) -> tuple[str, list[str]]:
    column = header.split(",").index("c-class-flares")
    labelled = [f"{line},{'yes' if int(line.split(',')[column]) > 0 else 'no'}"
                for line in lines]
    return f"{header},c_flare", labelled


def split_rows(example: str) -> dict[str, bytes]:
    """``{"reference.csv.gz": ..., "stream.csv.gz": ...}`` of ``example``, as committed."""
    table, n_reference, seed = SOURCES[example]
    with zipfile.ZipFile(river_table(table)) as archive:  # one member: the CSV text
        text = archive.read(archive.namelist()[0]).decode("utf-8")
    header, *lines = text.splitlines()
    if example == "solar_flare":
        header, lines = _with_flare_label(header, lines)
    chosen = np.zeros(len(lines), dtype=bool)
    chosen[np.random.default_rng(seed).permutation(len(lines))[:n_reference]] = True
    out = {}
    for name, keep in (("reference.csv.gz", chosen), ("stream.csv.gz", ~chosen)):
        text = "\n".join([header, *(line for line, k in zip(lines, keep, strict=True) if k)])
        buffer = io.BytesIO()
        with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0, filename="") as handle:
            handle.write((text + "\n").encode("utf-8"))
        out[name] = buffer.getvalue()
    return out
