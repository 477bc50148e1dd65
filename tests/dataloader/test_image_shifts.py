"""Image shifts: the affine warp equals scipy's, each family changes the fraction of images it
says by the amount it says, a knock-out removes the class, streams put the change where they say,
and the digits split is stratified and disjoint."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from driftline.dataloader.digits import load_digits, load_digits_split
from driftline.dataloader.image_shifts import (
    ImageShift,
    affine_transform,
    apply_shift,
    shift_stream,
)

RNG = np.random.default_rng(0)
IMAGES = RNG.integers(0, 17, size=(200, 8, 8)).astype(np.float32)
LABELS = np.arange(200) % 10


def test_the_affine_warp_equals_scipy() -> None:
    matrices = RNG.normal(size=(5, 2, 2))
    offsets = RNG.normal(size=(5, 2)) * 3
    ours = affine_transform(IMAGES[:5].astype(np.float64), matrices, offsets)
    for k in range(5):
        theirs = ndimage.affine_transform(IMAGES[k].astype(np.float64), matrices[k], offsets[k],
                                          order=1, mode="nearest")
        np.testing.assert_allclose(ours[k], theirs, atol=1e-9)


@pytest.mark.parametrize("family", ["gaussian_noise", "image", "occlusion", "impulse_noise"])
@pytest.mark.parametrize("fraction", [0.1, 0.5, 1.0])
def test_a_fraction_of_the_images_is_shifted(family: str, fraction: float) -> None:
    shifted, kept = apply_shift(ImageShift(family, "large", fraction), IMAGES, LABELS,
                                np.random.default_rng(1))
    changed = (shifted != IMAGES).any(axis=(1, 2))
    assert kept.tolist() == list(range(200))
    assert changed.sum() <= int(np.ceil(fraction * 200))
    assert changed.sum() >= 0.9 * fraction * 200
    assert shifted.min() >= 0 and shifted.max() <= 16


def test_levels_grow() -> None:
    def distance(family: str, level: str) -> float:
        shifted, _ = apply_shift(ImageShift(family, level), IMAGES, LABELS,
                                 np.random.default_rng(2))
        return float(np.abs(shifted - IMAGES).mean())

    for family in ("gaussian_noise", "image", "occlusion", "impulse_noise"):
        small, medium, large = (distance(family, level) for level in ("small", "medium", "large"))
        assert small < medium < large, family


def test_gaussian_noise_has_failing_loudlys_scale() -> None:
    flat = np.full((2000, 8, 8), 8.0, dtype=np.float32)  # mid-range: no clipping at medium
    shifted, _ = apply_shift(ImageShift("gaussian_noise", "medium"), flat, np.zeros(2000),
                             np.random.default_rng(3))
    assert abs(float(np.std(shifted - flat)) - 10 / 255 * 16) < 0.01


def test_knockout_removes_a_fraction_of_the_class() -> None:
    for fraction in (0.1, 0.5, 1.0):
        _, kept = apply_shift(ImageShift("knockout", None, fraction), IMAGES, LABELS,
                              np.random.default_rng(4))
        removed = np.setdiff1d(np.arange(200), kept)
        assert (LABELS[removed] == 0).all() and removed.size == int(np.ceil(fraction * 20))


def test_streams_change_at_their_change_point() -> None:
    for shift in (ImageShift("image", "medium", 1.0), ImageShift("knockout", None, 1.0)):
        stream = shift_stream(IMAGES, LABELS, shift, length=400, change_point=150, seed=5)
        assert stream.change_points == (150,) and stream.images.shape == (400, 8, 8)
        assert not stream.shifted[:150].any() and stream.shifted[150:].all()
        if shift.family == "knockout":
            assert (stream.labels[150:] != 0).all() and (stream.labels[:150] == 0).any()
    again = shift_stream(IMAGES, LABELS, ImageShift("image", "medium"), length=400,
                         change_point=150, seed=5)
    np.testing.assert_array_equal(again.images, shift_stream(
        IMAGES, LABELS, ImageShift("image", "medium"), length=400, change_point=150,
        seed=5).images)


@pytest.mark.parametrize(("args", "message"), [
    (("blur", "small"), "family must be one of"),
    (("image", None), "needs a level"),
    (("knockout", "small"), "takes no level"),
    (("image", "small", 0.0), r"fraction must be in \(0, 1\]"),
])
def test_bad_shifts_say_why(args: tuple, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ImageShift(*args)


def test_the_digits_split_is_stratified_and_disjoint() -> None:
    split = load_digits_split(seed=0)
    parts = (split.train, split.reference, split.test)
    assert sum(len(p) for p in parts) == 1797
    for part in parts:
        counts = np.bincount(part.labels, minlength=10) / len(part)
        assert np.abs(counts - 0.1).max() < 0.01
    # together the parts are the whole data set, each image exactly once
    rows = np.c_[np.concatenate([p.flat() for p in parts]),
                 np.concatenate([p.labels for p in parts])]
    everything = load_digits()
    whole = np.c_[everything.flat(), everything.labels]
    np.testing.assert_array_equal(rows[np.lexsort(rows.T)], whole[np.lexsort(whole.T)])
    assert load_digits_split(seed=1).train.labels.tolist() != split.train.labels.tolist()
