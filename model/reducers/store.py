"""Fitting reducers on the reference sample and keeping them with the profile.

:func:`fit_reducers` fits resolved :class:`~model.reducers.spec.ReducerSpec` s on the vector
fields' reference samples and returns their :class:`~model.profile.ReducerProfile` entries and
files: ``reducer_<name>.npz`` (the reducer's arrays; written with fixed zip timestamps, so the
same reference gives the same bytes) whose SHA-256 the entry records. :func:`load_reducers`
rebuilds them from an artifacts directory, refusing a file whose bytes do not hash to the
profile's value. :func:`reduced_reference` gives a reducer's components on the reference, the
reference of the detectors that watch them.

Example
-------
>>> import tempfile
>>> from driftline.configs import build_config
>>> from driftline.dataloader.schema import EventSchema
>>> from driftline.model.profile import ReferenceProfile, VectorProfile
>>> from driftline.model.reducers.spec import parse_reducer_option, resolve_specs
>>> schema = build_config({"fields": [{"name": "e", "type": "vector", "length": 6}]},
...                       EventSchema)
>>> samples = {"e": np.random.default_rng(0).normal(size=(200, 6)).astype(np.float32)}
>>> specs = resolve_specs([parse_reducer_option("pca:2")], schema)
>>> entries, files = fit_reducers(specs, schema, samples)
>>> entries[0].component_names, sorted(files)
(['pca_0', 'pca_1'], ['reducer_pca.npz'])
>>> profile = ReferenceProfile([], {}, [], {}, [], {}, {}, {}, {}, {}, [], None, None, 0.0, 200,
...     "", "", vectors={"e": VectorProfile([6], 200, 0, 200, "v.npy", "")}, reducers=entries)
>>> with tempfile.TemporaryDirectory() as directory:
...     _ = (Path(directory) / "reducer_pca.npz").write_bytes(files["reducer_pca.npz"])
...     reducers = load_reducers(directory, profile)
>>> reduced_reference(reducers["pca"], samples).shape
(200, 2)
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from driftline.dataloader.schema import EventSchema
from driftline.model.profile import ReducerProfile
from driftline.model.profile_vectors import npy_bytes, read_checked
from driftline.model.reducers.autoencoder import UntrainedEncoder, fit_uae
from driftline.model.reducers.base import IdentityReducer, Reducer
from driftline.model.reducers.bbsd import BBSDReducer, bbsd_reducer, bbsd_reference
from driftline.model.reducers.linear import LinearReducer, fit_pca, fit_srp
from driftline.model.reducers.spec import ReducerSpec

__all__ = ["fit_reducer", "fit_reducers", "load_reducers", "reduced_reference",
           "reducer_file_name"]

_EPOCH = (1980, 1, 1, 0, 0, 0)


def reducer_file_name(name: str) -> str:
    """The file of a fitted reducer's arrays."""
    return f"reducer_{name}.npz"


def _npz_bytes(arrays: Mapping[str, np.ndarray]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for key in sorted(arrays):
            archive.writestr(zipfile.ZipInfo(f"{key}.npy", date_time=_EPOCH),
                             npy_bytes(arrays[key]))
    return buffer.getvalue()


def _read_npz(data: bytes) -> dict[str, np.ndarray]:
    with np.load(io.BytesIO(data), allow_pickle=False) as archive:
        return {key: archive[key] for key in archive.files}


def _present(samples: Mapping[str, np.ndarray], field: str) -> np.ndarray:
    block = samples[field]
    return block[~np.isnan(block).any(axis=1)]


def fit_reducer(spec: ReducerSpec, schema: EventSchema,
                samples: Mapping[str, np.ndarray]) -> Reducer | None:
    """The reducer of a resolved spec fitted on the reference rows of its field (``None`` for
    BBSD, which is built from the model, :func:`model.reducers.bbsd.bbsd_reducer`)."""
    if spec.kind == "bbsd":
        return None
    assert spec.field is not None and spec.name is not None
    field = next(f for f in schema.array_fields if f.name == spec.field)
    if spec.kind == "none":
        return IdentityReducer(spec.name, field.name, field.size)
    if spec.kind == "srp":
        assert spec.n_components is not None
        return fit_srp(spec.name, field.name, field.size, spec.n_components, spec.seed)
    reference = _present(samples, field.name)
    if reference.shape[0] < 2:
        raise ValueError(f"reducer {spec.name!r}: field {field.name!r} has "
                         f"{reference.shape[0]} reference rows with a value; at least 2 needed")
    if spec.kind == "pca":
        return fit_pca(spec.name, field.name, reference, spec.n_components,
                       spec.explained_variance)
    assert spec.n_components is not None
    return fit_uae(spec.name, field.name, reference, field.dims, spec.n_components, spec.seed)


def fit_reducers(specs: Sequence[ReducerSpec], schema: EventSchema,
                 samples: Mapping[str, np.ndarray],
                 ) -> tuple[list[ReducerProfile], dict[str, bytes]]:
    """Profile entries and files of the resolved ``specs``, fitted on ``samples`` (per vector
    field its reference sample, NaN rows: no value)."""
    entries: list[ReducerProfile] = []
    files: dict[str, bytes] = {}
    for spec in specs:
        assert spec.name is not None
        reducer = fit_reducer(spec, schema, samples)
        if reducer is None:
            entries.append(ReducerProfile(spec.name, "bbsd", "", [], {"output": spec.output}))
            continue
        file = sha256 = ""
        arrays = reducer.arrays()
        if arrays:
            file = reducer_file_name(spec.name)
            files[file] = _npz_bytes(arrays)
            sha256 = hashlib.sha256(files[file]).hexdigest()
        entries.append(ReducerProfile(spec.name, reducer.kind, reducer.field,
                                      reducer.component_names, reducer.params(), file, sha256))
    return entries, files


def _rebuilt(entry: ReducerProfile, arrays: dict[str, np.ndarray], size: int) -> Reducer:
    if entry.kind == "none":
        return IdentityReducer(entry.name, entry.field, size)
    if entry.kind in ("pca", "srp"):
        return LinearReducer.from_stored(entry.kind, entry.name, entry.field, entry.params,
                                         arrays)
    if entry.kind == "uae":
        return UntrainedEncoder.from_stored(entry.name, entry.field, entry.params, arrays)
    raise ValueError(f"reducer {entry.name!r}: unknown kind {entry.kind!r}")


def load_reducers(directory: str | Path, profile: Any, *,
                  adapter: Any = None) -> dict[str, Reducer]:
    """The profile's reducers by name, from the files in ``directory`` (hashes checked); BBSD
    reducers are built from ``adapter`` (required when the profile has one)."""
    out: dict[str, Reducer] = {}
    for entry in profile.reducers:
        if entry.kind == "bbsd":
            if adapter is None:
                raise ValueError(f"reducer {entry.name!r} (bbsd) reads the model's outputs: "
                                 "load it with the model adapter")
            out[entry.name] = bbsd_reducer(entry.name, entry.params.get("output", "softmax"),
                                           adapter)
            continue
        vector = profile.vectors.get(entry.field)
        if vector is None:
            raise ValueError(f"reducer {entry.name!r} reads field {entry.field!r}, which is not "
                             "a vector field of the profile")
        arrays = _read_npz(read_checked(directory, entry.file, entry.sha256)) if entry.file \
            else {}
        reducer = _rebuilt(entry, arrays, int(np.prod(vector.shape)))
        if reducer.input_size != int(np.prod(vector.shape)) or (
                reducer.component_names != list(entry.component_names)):
            raise ValueError(f"{Path(directory) / entry.file}: reducer {entry.name!r} maps "
                             f"{reducer.input_size} values to {reducer.n_components}; the "
                             f"profile says {int(np.prod(vector.shape))} to "
                             f"{len(entry.component_names)}")
        out[entry.name] = reducer
    return out


def reduced_reference(reducer: Reducer, samples: Mapping[str, np.ndarray], *,
                      adapter: Any = None) -> np.ndarray:
    """The reducer's ``(rows, n_components)`` components on the reference sample (rows of its
    field with a value; for BBSD, the model's outputs, :func:`bbsd_reference`)."""
    if isinstance(reducer, BBSDReducer):
        if adapter is None:
            raise ValueError(f"reducer {reducer.name!r} (bbsd) needs the model adapter")
        return bbsd_reference(reducer, adapter, samples)
    return reducer.transform(_present(samples, reducer.field))
