"""The 8x8 handwritten digits of scikit-learn, split for the vision example and Failing Loudly.

The images are scikit-learn's bundled copy (``sklearn.datasets.load_digits``) of the test set of
the UCI "Optical Recognition of Handwritten Digits" data set (E. Alpaydin, C. Kaynak, 1998):
1,797 images of 8x8 integer pixels in 0..16, classes 0..9. Provenance and licences:
``configs/examples/digits/README.md``.

:func:`load_digits_split` shuffles them with a seed and splits them, stratified by class, into
``train`` (half: the model and the reducers are fitted on it), ``reference`` (a quarter: the
clean, held-out sample the profile is built from) and ``test`` (a quarter: the production pool
that shifts are applied to). :func:`digits_events` writes a split as events of the example's
schema (``dataloader/data/digits/schema.yaml``), which is also the executor's wire format:
``{"event_id", "features": {"pixels": 8x8 nested array}, "label"}``.

Example
-------
>>> split = load_digits_split(seed=0)
>>> split.train.images.shape, split.reference.images.shape, split.test.images.shape
((898, 8, 8), (449, 8, 8), (450, 8, 8))
>>> float(split.train.images.max()), sorted(set(split.test.labels.tolist())) == list(range(10))
(16.0, True)
>>> next(digits_events(split.reference, "reference"))["event_id"]
'reference-00000'
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["CLASS_NAMES", "DATA_DIR", "IMAGE_SHAPE", "PIXEL_MAX", "DigitsSplit", "ImageSet",
           "digits_events", "image_json", "load_digits", "load_digits_split"]

#: the example's schema and README
DATA_DIR = Path(__file__).resolve().parent / "data" / "digits"
IMAGE_SHAPE = (8, 8)
#: pixels are counts of "on" cells in a 4x4 block: 0..16
PIXEL_MAX = 16.0
CLASS_NAMES = [str(digit) for digit in range(10)]


@dataclass(frozen=True)
class ImageSet:
    """Images ``(n, 8, 8)`` float32 in [0, 16] and their classes ``(n,)`` int64."""

    images: np.ndarray
    labels: np.ndarray

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def flat(self) -> np.ndarray:
        """The images as ``(n, 64)`` rows (row-major pixels)."""
        return self.images.reshape(len(self), -1)


@dataclass(frozen=True)
class DigitsSplit:
    """The three parts of :func:`load_digits_split`."""

    train: ImageSet
    reference: ImageSet
    test: ImageSet


def load_digits() -> ImageSet:
    """All 1,797 images, in scikit-learn's order (needs scikit-learn: the ``vision`` extra)."""
    try:
        from sklearn.datasets import load_digits as sklearn_digits
    except ImportError:
        raise ImportError("the digits data come with scikit-learn: pip install "
                          "'driftline[vision]'") from None
    bunch = sklearn_digits()
    return ImageSet(np.asarray(bunch.images, dtype=np.float32),
                    np.asarray(bunch.target, dtype=np.int64))


def load_digits_split(seed: int = 0) -> DigitsSplit:
    """Train / reference / test parts (1/2, 1/4, 1/4 of every class), shuffled by ``seed``."""
    data = load_digits()
    rng = np.random.default_rng(seed)
    parts: list[list[np.ndarray]] = [[], [], []]
    for digit in range(len(CLASS_NAMES)):
        members = rng.permutation(np.flatnonzero(data.labels == digit))
        cut_train, cut_reference = round(len(members) / 2), round(3 * len(members) / 4)
        for part, rows in zip(parts, np.split(members, [cut_train, cut_reference]), strict=True):
            part.append(rows)
    sets = []
    for part in parts:
        rows = rng.permutation(np.concatenate(part))
        sets.append(ImageSet(data.images[rows], data.labels[rows]))
    return DigitsSplit(*sets)


def digits_events(images: ImageSet, prefix: str) -> Iterator[dict[str, Any]]:
    """One event of the example's schema per image (ids ``<prefix>-00042``)."""
    for i in range(len(images)):
        yield {"event_id": f"{prefix}-{i:05d}",
               "features": {"pixels": image_json(images.images[i])},
               "label": int(images.labels[i])}


def image_json(image: np.ndarray) -> list[Any]:
    """An image as nested JSON arrays: integers where every pixel is one, floats otherwise."""
    whole = np.array_equal(image, np.round(image))
    return np.asarray(image).astype(int).tolist() if whole else np.asarray(image).tolist()
