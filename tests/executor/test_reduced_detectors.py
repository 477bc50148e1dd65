"""Detectors on reduced vectors: the Incremental KS bank per component (Bonferroni) equals
independent KS tests at the family level, NM-DDM watches the whole vector, the label-shift test
fires on a class knock-out seen through BBSD, labels are bounded, and a saved calibration gives
back the same detectors."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from scipy import stats

from driftline.configs import ConfigError, build_config
from driftline.dataloader.digits import load_digits_split
from driftline.dataloader.image_shifts import ImageShift, shift_stream
from driftline.executor.reduced_detectors import ReducedDetectorsConfig, build_reduced_detectors
from driftline.model.digits_cnn import train_digits_cnn
from driftline.model.reducers.linear import fit_pca

RNG = np.random.default_rng(0)


def config(**sections: Any) -> ReducedDetectorsConfig:
    base: dict[str, Any] = {"iks": {"window_size": 100, "target_arl0": 2000},
                            "nm_ddm": {"window_size": 100, "target_arl0": 2000,
                                       "n_features_rff": 64, "calibration_steps": 20_000},
                            "label_shift": {"window_size": 100, "target_arl0": 2000,
                                            "calibration": "bound"},
                            "calibration": {"n_streams": 10}}
    base.update(sections)
    return build_config(base, ReducedDetectorsConfig)


def test_the_component_bank_is_a_bonferroni_family_of_ks_tests() -> None:
    reference = RNG.normal(size=(400, 4))
    detectors = build_reduced_detectors("srp", [f"srp_{i}" for i in range(4)], reference,
                                        config(nm_ddm={"enabled": False}))
    assert detectors.feature_labels() == {"incremental_ks": ["srp_0", "srp_1", "srp_2",
                                                             "srp_3"]}
    bank = detectors.iks
    assert bank is not None and bank.correction == "bonferroni"
    window = RNG.normal(size=(100, 4)) + np.array([0, 0, 0.6, 0])
    hits = detectors.update(window)
    p_values = [stats.ks_2samp(reference[:, j], window[:, j]).pvalue for j in range(4)]
    level = bank.alpha
    expected = [f"srp_{j}" for j in range(4) if min(1.0, 4 * p_values[j]) <= level]
    assert [feature for _, feature, row in hits if row == 99] == expected


def test_nm_ddm_watches_the_whole_vector() -> None:
    reference = RNG.normal(size=(1000, 2))
    detectors = build_reduced_detectors("uae", ["uae_0", "uae_1"], reference,
                                        config(iks={"enabled": False}))
    assert detectors.feature_labels() == {"nm_ddm": ["uae"]}
    same_marginals = RNG.multivariate_normal([0, 0], [[1, 0.9], [0.9, 1]], size=600)
    hits = detectors.update(np.r_[RNG.normal(size=(300, 2)), same_marginals])
    assert hits and all(detector == "nm_ddm" and feature == "uae" for detector, feature, _ in
                        hits)
    assert hits[0][2] >= 300


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


def test_a_knockout_is_a_label_shift_seen_through_bbsd(bbsd: tuple[Any, Any, Any]) -> None:
    split, reference, softmax = bbsd
    detectors = build_reduced_detectors("bbsd", [f"bbsd_{i}" for i in range(10)], reference,
                                        config(iks={"enabled": False},
                                               nm_ddm={"enabled": False},
                                               label_shift={"window_size": 400,
                                                            "target_arl0": 5000,
                                                            "calibration": "bound"}),
                                        bbsd_softmax=True)
    assert detectors.feature_labels() == {"chi_square": ["bbsd_class"]}
    stream = shift_stream(split.test.images, split.test.labels, ImageShift("knockout", None,
                                                                           1.0),
                          length=2500, change_point=600, seed=1)
    hits = detectors.update(softmax(stream.images))
    assert hits and hits[0][:2] == ("chi_square", "bbsd_class") and hits[0][2] >= 600


def test_image_shifts_are_found_in_pca_components(bbsd: tuple[Any, Any, Any]) -> None:
    split, _, _ = bbsd
    pca = fit_pca("pca", "pixels", split.train.flat(), 16)
    reference = pca.transform(split.reference.flat())
    detectors = build_reduced_detectors("pca", pca.component_names, reference, config(
        nm_ddm={"window_size": 100, "target_arl0": 20_000, "n_features_rff": 64,
                "calibration_steps": 200_000}))
    # in control: draws from the reference's own images (a stream resampled from another pool of
    # 450 images differs from the reference by that pool's sampling error, which NM-DDM sees)
    quiet = shift_stream(split.reference.images, split.reference.labels, ImageShift("none"),
                         length=1200, change_point=600, seed=2)
    assert detectors.update(pca.transform(quiet.images.reshape(1200, -1))) == []
    stream = shift_stream(split.reference.images, split.reference.labels,
                          ImageShift("gaussian_noise", "large", 1.0), length=1200,
                          change_point=600, seed=3)
    hits = detectors.update(pca.transform(stream.images.reshape(1200, -1)))
    assert {detector for detector, _, _ in hits} == {"incremental_ks", "nm_ddm"}
    assert min(row for _, _, row in hits) >= 600
    labels = set().union(*detectors.feature_labels().values())
    assert len(labels) == 17 and {feature for _, feature, _ in hits} <= labels


def test_a_saved_calibration_gives_back_the_same_detectors() -> None:
    reference = RNG.normal(size=(300, 3))
    names = ["pca_0", "pca_1", "pca_2"]
    first = build_reduced_detectors("pca", names, reference, config(
        iks={"window_size": 100, "target_arl0": 2000, "calibration": "bootstrap",
             "stride": 25}))
    again = build_reduced_detectors("pca", names, reference, config(
        iks={"window_size": 100, "target_arl0": 2000, "calibration": "bootstrap",
             "stride": 25}), calibration=first.calibration)
    assert again.iks is not None and first.iks is not None
    assert again.iks.alpha == first.iks.alpha
    assert again.nm_ddm is not None and first.nm_ddm is not None
    assert again.nm_ddm.threshold == first.nm_ddm.threshold
    rows = RNG.normal(size=(400, 3)) + np.array([0, 0, 1])
    assert again.update(rows) == first.update(rows)


@pytest.mark.parametrize(("sections", "message"), [
    ({"iks": {"enabled": False}, "nm_ddm": {"enabled": False},
      "label_shift": {"enabled": False}}, "at least one of iks, nm_ddm, label_shift"),
    ({"label_shift": {"window_size": 5}}, "label_shift.window_size"),
    ({"nm_ddm": {"window_size": 100, "target_arl0": 50}}, "nm_ddm.target_arl0"),
])
def test_bad_configs_name_the_key(sections: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        build_config(sections, ReducedDetectorsConfig, source="run.yaml")
    assert message in str(caught.value)


def test_a_reference_that_does_not_fit_is_refused() -> None:
    with pytest.raises(ValueError, match=r"must be \(n_ref >= 20, 2\), got \(400, 3\)"):
        build_reduced_detectors("pca", ["pca_0", "pca_1"], RNG.normal(size=(400, 3)), config())
    detectors = build_reduced_detectors("pca", ["pca_0", "pca_1"], RNG.normal(size=(400, 2)),
                                        config(nm_ddm={"enabled": False}))
    with pytest.raises(ValueError, match="has 2 components, got rows of shape"):
        detectors.update(np.zeros((5, 3)))
