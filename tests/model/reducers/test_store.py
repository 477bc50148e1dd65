"""Reducers with the profile: fitted, written with their hashes, loaded back to the same maps;
a changed file, a missing model for BBSD or a profile that does not fit is refused; BBSD's
reference is the served model's output on the reference sample."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from driftline.model.adapters.loading import load_model_adapter
from driftline.model.profile_files import read_profile
from driftline.model.profile_vectors import read_vector_samples
from driftline.model.reducers.bbsd import BBSDReducer, bbsd_reducer
from driftline.model.reducers.store import load_reducers, reduced_reference
from tests.digits_example import REDUCERS, model_config


def loaded(directory: Path) -> tuple[dict, dict, object]:
    adapter = load_model_adapter(model_config(directory))
    profile = read_profile(directory)
    return (load_reducers(directory, profile, adapter=adapter),
            read_vector_samples(directory, profile.vectors), adapter)


def test_every_reducer_round_trips(digits_example: Path) -> None:
    reducers, samples, _ = loaded(digits_example)
    assert {name: r.n_components for name, r in reducers.items()} == {
        "pca": 32, "srp": 32, "uae": 32, "bbsd": 10, "bbsd_embedding": 64, "pixels": 64}
    assert len(REDUCERS) == len(reducers)
    profile = read_profile(digits_example)
    assert [r.name for r in profile.reducers] == list(reducers)
    for entry in profile.reducers:
        if entry.kind != "bbsd":
            assert reducers[entry.name].component_names == entry.component_names
    pixels = samples["pixels"]
    np.testing.assert_array_equal(reduced_reference(reducers["pixels"], samples), pixels)
    pca = reducers["pca"]
    np.testing.assert_allclose(reduced_reference(pca, samples),
                               (pixels - pixels.mean(axis=0)) @ pca.matrix, atol=1e-3)


def test_bbsd_reference_is_the_models_output_on_the_reference(digits_example: Path) -> None:
    reducers, samples, adapter = loaded(digits_example)
    softmax = reduced_reference(reducers["bbsd"], samples, adapter=adapter)
    np.testing.assert_allclose(softmax.sum(axis=1), 1.0, atol=1e-5)
    profile = read_profile(digits_example)
    # the model is accurate, so its predicted classes follow the reference labels
    predicted = np.bincount(softmax.argmax(axis=1), minlength=10) / len(softmax)
    np.testing.assert_allclose(predicted, profile.label_distribution, atol=0.02)
    embedding = reduced_reference(reducers["bbsd_embedding"], samples, adapter=adapter)
    assert embedding.shape == (len(softmax), 64) and (embedding >= 0).all()  # after a ReLU
    with pytest.raises(ValueError, match="needs the model adapter"):
        reduced_reference(reducers["bbsd"], samples)


def test_a_changed_file_is_refused(digits_example: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(digits_example, copy)
    profile = read_profile(copy)
    data = bytearray((copy / "reducer_pca.npz").read_bytes())
    data[-100] ^= 1
    (copy / "reducer_pca.npz").write_bytes(bytes(data))
    with pytest.raises(ValueError, match=r"reducer_pca.npz: SHA-256 \w+ differs from the "
                       "profile's"):
        load_reducers(copy, profile, adapter=object())
    (copy / "reducer_pca.npz").unlink()
    with pytest.raises(ValueError, match=r"reducer_pca\.npz: cannot read"):
        load_reducers(copy, profile, adapter=object())


def test_bbsd_needs_a_model_that_serves_its_output(digits_example: Path) -> None:
    profile = read_profile(digits_example)
    with pytest.raises(ValueError, match="load it with the model adapter"):
        load_reducers(digits_example, profile)

    class ServedElsewhere:
        kind = "none"

    with pytest.raises(ValueError, match="log its class probabilities in a vector field"):
        bbsd_reducer("bbsd", "softmax", ServedElsewhere())

    class NoEmbedding:
        kind, class_names, embedding_width = "torchscript", ["a", "b"], 0

    with pytest.raises(ValueError, match=r"returns: \[..., embedding\]"):
        bbsd_reducer("bbsd", "embedding", NoEmbedding())
    assert isinstance(bbsd_reducer("bbsd", "softmax", NoEmbedding()), BBSDReducer)


def test_reducer_files_are_deterministic(digits_example: Path, tmp_path: Path) -> None:
    from tests.digits_example import build_digits_example

    again = build_digits_example(tmp_path / "again")
    for name in ("reducer_pca.npz", "reducer_srp.npz", "reducer_uae.npz",
                 "reference_vectors_0.npy"):
        assert (again / name).read_bytes() == (digits_example / name).read_bytes(), name
