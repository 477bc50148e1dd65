"""Detectors on reduced vectors: the Incremental KS bank per component (Bonferroni) equals
independent KS tests at the family level, NM-DDM watches the whole vector, the label-shift test
fires on a class knock-out of the predicted classes, labels are bounded, and a saved calibration
gives back the same detectors."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from scipy import stats

from driftline.dataloader.digits import load_digits_split
from driftline.dataloader.image_shifts import ImageShift, shift_stream
from driftline.executor.reduced_detectors import build_reduced_detectors
from driftline.model.digits_cnn import train_digits_cnn
from driftline.model.reducers.linear import fit_pca

RNG = np.random.default_rng(0)


def entry(detector: str, target_arl0: float, **params: Any) -> SimpleNamespace:
    """A ``detectors.streams`` entry; ``calibration`` is an option of its method."""
    options = {k: params.pop(k) for k in ("calibration", "stride") if k in params}
    return SimpleNamespace(detector=detector, target_arl0=target_arl0, params=params, **options)


IKS = entry("incremental_ks", 2000, window_size=100)
NM_DDM = entry("nm_ddm", 2000, window_size=100, n_features_rff=64, calibration_steps=20_000)


def build(references: dict[str, np.ndarray], classes: Any = None, **streams: Any) -> Any:
    return build_reduced_detectors(references, classes, streams, n_streams=10)


def test_the_component_bank_is_a_bonferroni_family_of_ks_tests() -> None:
    reference = RNG.normal(size=(400, 4))
    detectors = build({"srp": reference}, reduced_components=[IKS])
    assert detectors.series() == [("incremental_ks", "reduced_components",
                                   ["srp_0", "srp_1", "srp_2", "srp_3"])]
    bank = detectors.components["srp"]["incremental_ks"]
    assert bank.correction == "bonferroni"
    window = RNG.normal(size=(100, 4)) + np.array([0, 0, 0.6, 0])
    hits = detectors.update({"srp": window}, None)
    p_values = [stats.ks_2samp(reference[:, j], window[:, j]).pvalue for j in range(4)]
    level = bank.alpha
    expected = [f"srp_{j}" for j in range(4) if min(1.0, 4 * p_values[j]) <= level]
    assert [feature for _, _, feature, row in hits if row == 99] == expected


def test_nm_ddm_watches_the_whole_vector() -> None:
    reference = RNG.normal(size=(1000, 2))
    detectors = build({"uae": reference}, reduced_vector=[NM_DDM])
    assert detectors.series() == [("nm_ddm", "reduced_vector", ["uae"])]
    same_marginals = RNG.multivariate_normal([0, 0], [[1, 0.9], [0.9, 1]], size=600)
    hits = detectors.update({"uae": np.r_[RNG.normal(size=(300, 2)), same_marginals]}, None)
    assert hits and all(hit[:3] == ("nm_ddm", "reduced_vector", "uae") for hit in hits)
    assert hits[0][3] >= 300


@pytest.fixture(scope="module")
def bbsd() -> tuple[Any, Any, Any]:
    split = load_digits_split(seed=0)
    trained = train_digits_cnn(split.train, epochs=15)
    import torch

    def softmax(images: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return trained.module(torch.from_numpy(
                images.reshape(len(images), -1).astype(np.float32)))[0].numpy()

    return split, softmax(split.reference.images), softmax


def test_a_knockout_is_a_label_shift_of_the_predicted_classes(
        bbsd: tuple[Any, Any, Any]) -> None:
    split, reference, softmax = bbsd
    detectors = build({}, reference.argmax(axis=1), predicted_class=[
        entry("chi_square", 5000, window_size=400, calibration="bound")])
    assert detectors.series() == [("chi_square", "predicted_class", ["class"])]
    stream = shift_stream(split.test.images, split.test.labels, ImageShift("knockout", None,
                                                                           1.0),
                          length=2500, change_point=600, seed=1)
    hits = detectors.update({}, softmax(stream.images).argmax(axis=1))
    assert hits and hits[0][:3] == ("chi_square", "predicted_class", "class")
    assert hits[0][3] >= 600


def test_image_shifts_are_found_in_pca_components(bbsd: tuple[Any, Any, Any]) -> None:
    split, _, _ = bbsd
    pca = fit_pca("pca", "pixels", split.train.flat(), 16)
    reference = pca.transform(split.reference.flat())
    detectors = build({"pca": reference}, reduced_components=[IKS], reduced_vector=[entry(
        "nm_ddm", 20_000, window_size=100, n_features_rff=64, calibration_steps=200_000)])
    # in control: draws from the reference's own images (a stream resampled from another pool of
    # 450 images differs from the reference by that pool's sampling error, which NM-DDM sees)
    quiet = shift_stream(split.reference.images, split.reference.labels, ImageShift("none"),
                         length=1200, change_point=600, seed=2)
    assert detectors.update({"pca": pca.transform(quiet.images.reshape(1200, -1))}, None) == []
    stream = shift_stream(split.reference.images, split.reference.labels,
                          ImageShift("gaussian_noise", "large", 1.0), length=1200,
                          change_point=600, seed=3)
    hits = detectors.update({"pca": pca.transform(stream.images.reshape(1200, -1))}, None)
    assert {detector for detector, *_ in hits} == {"incremental_ks", "nm_ddm"}
    assert min(row for *_, row in hits) >= 600
    labels = {feature for _, _, features in detectors.series() for feature in features}
    assert len(labels) == 17 and {feature for _, _, feature, _ in hits} <= labels


def test_a_saved_calibration_and_state_give_back_the_same_detectors() -> None:
    reference = RNG.normal(size=(300, 3))
    iks = entry("incremental_ks", 2000, window_size=100, calibration="bootstrap", stride=25)
    streams = {"reduced_components": [iks], "reduced_vector": [NM_DDM],
               "predicted_class": [entry("chi_square", 2000, window_size=100,
                                         calibration="bound")]}
    classes = RNG.integers(0, 3, 300)
    first = build_reduced_detectors({"pca": reference}, classes, streams, n_streams=10)
    again = build_reduced_detectors({"pca": reference}, classes, streams, n_streams=10,
                                    calibration=first.calibration)
    assert (again.components["pca"]["incremental_ks"].alpha
            == first.components["pca"]["incremental_ks"].alpha)
    assert (again.vectors["pca"]["nm_ddm"].threshold
            == first.vectors["pca"]["nm_ddm"].threshold)
    rows, served = RNG.normal(size=(400, 3)) + np.array([0, 0, 1]), RNG.integers(0, 3, 400)
    assert again.update({"pca": rows[:200]}, served[:200]) == first.update(
        {"pca": rows[:200]}, served[:200])
    restored = build_reduced_detectors({"pca": reference}, classes, streams, n_streams=10,
                                       calibration=first.calibration)
    restored.load_state_dict(first.state_dict())
    assert restored.update({"pca": rows[200:]}, served[200:]) == first.update(
        {"pca": rows[200:]}, served[200:])


def test_a_detector_that_cannot_watch_a_vector_is_refused() -> None:
    with pytest.raises(ValueError, match=r"reduced_vector\[0\]: page_hinkley does not watch"):
        build({"pca": RNG.normal(size=(400, 2))},
              reduced_vector=[entry("page_hinkley", 2000)])


def test_a_reference_that_does_not_fit_is_refused() -> None:
    with pytest.raises(ValueError, match=r"must be \(n_ref >= 20, k\), got \(10, 3\)"):
        build({"pca": RNG.normal(size=(10, 3))}, reduced_components=[IKS])
    detectors = build({"pca": RNG.normal(size=(400, 2))}, reduced_components=[IKS])
    with pytest.raises(ValueError):
        detectors.update({"pca": np.zeros((5, 3))}, None)
    with pytest.raises(ValueError, match="pipeline state has reduced_components detectors"):
        detectors.load_state_dict({"reduced_components": {"pca": {}}})
