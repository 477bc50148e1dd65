"""The reference samples of vector and image fields, in files beside the profile.

Each field's sample is a float32 ``.npy`` file ``reference_vectors_<k>.npy`` (``k``: the
field's position among the schema's vector and image fields) of ``(rows, size)`` values, NaN
rows where the reference row had no value; row ``r`` of every file is the same reference row,
so a model reading several fields sees aligned inputs. The profile records each file's SHA-256
(:class:`model.profile.VectorProfile`); :func:`read_vector_samples` refuses a file whose bytes
do not hash to it. numpy only: no torch.

Example
-------
>>> import tempfile
>>> from driftline.configs import build_config
>>> from driftline.dataloader.schema import EventSchema
>>> schema = build_config({"fields": [{"name": "e", "type": "vector", "length": 2}]},
...                       EventSchema)
>>> entries, files = vector_files(schema.array_fields, np.ones((3, 2), np.float32), {"e": 0}, 3)
>>> entries["e"].file, entries["e"].n_values, len(files["reference_vectors_0.npy"]) > 128
('reference_vectors_0.npy', 3, True)
>>> with tempfile.TemporaryDirectory() as directory:
...     _ = (Path(directory) / "reference_vectors_0.npy").write_bytes(
...         files["reference_vectors_0.npy"])
...     read_vector_samples(directory, entries)["e"].shape
(3, 2)
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from driftline.model.profile import VectorProfile

__all__ = ["npy_bytes", "read_checked", "read_vector_samples", "vector_file_name",
           "vector_files"]


def vector_file_name(position: int) -> str:
    """The sample file of the ``position``-th vector or image field."""
    return f"reference_vectors_{position}.npy"


def npy_bytes(array: np.ndarray) -> bytes:
    """``array`` in ``.npy`` format (deterministic bytes: same array, same hash)."""
    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(array), allow_pickle=False)
    return buffer.getvalue()


def vector_files(fields: Sequence[Any], sample: np.ndarray, missing: Mapping[str, int],
                 n_rows: int) -> tuple[dict[str, VectorProfile], dict[str, bytes]]:
    """Per field its :class:`VectorProfile` and ``{file name: bytes}``, from the joint sample
    ``(rows, sum of sizes)`` whose columns are the fields' values side by side."""
    entries: dict[str, VectorProfile] = {}
    files: dict[str, bytes] = {}
    start = 0
    for position, spec in enumerate(fields):
        block = np.ascontiguousarray(sample[:, start:start + spec.size], dtype=np.float32)
        start += spec.size
        name = vector_file_name(position)
        files[name] = npy_bytes(block)
        entries[spec.name] = VectorProfile(
            shape=list(spec.dims), n_values=n_rows - int(missing[spec.name]),
            missing_count=int(missing[spec.name]), sample_rows=int(block.shape[0]), file=name,
            sha256=hashlib.sha256(files[name]).hexdigest())
    return entries, files


def read_checked(directory: str | Path, name: str, sha256: str) -> bytes:
    """The bytes of ``directory/name``; ``ValueError`` naming the file if it is missing or its
    SHA-256 is not ``sha256``."""
    path = Path(directory) / name
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ValueError(f"{path}: cannot read: {exc.strerror or exc} (written by driftline "
                         "profile beside the profile)") from None
    found = hashlib.sha256(data).hexdigest()
    if found != sha256:
        raise ValueError(f"{path}: SHA-256 {found[:12]} differs from the profile's "
                         f"{sha256[:12]} (changed or from another profile; rebuild it with "
                         "driftline profile)")
    return data


def read_vector_samples(directory: str | Path, vectors: Mapping[str, VectorProfile],
                        ) -> dict[str, np.ndarray]:
    """Per vector or image field, its reference sample ``(sample_rows, size)`` float32 (NaN
    rows: no value), checked against the profile's hash and shape."""
    out: dict[str, np.ndarray] = {}
    for name, entry in vectors.items():
        data = read_checked(directory, entry.file, entry.sha256)
        array = np.load(io.BytesIO(data), allow_pickle=False)
        size = int(np.prod(entry.shape))
        if array.dtype != np.float32 or array.shape != (entry.sample_rows, size):
            raise ValueError(f"{Path(directory) / entry.file}: holds {array.dtype} "
                             f"{array.shape}, the profile says float32 "
                             f"({entry.sample_rows}, {size}) for field {name!r}")
        out[name] = array
    return out
