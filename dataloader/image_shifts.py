"""Dataset shifts of images, as in Rabanser, Günnemann & Lipton, "Failing Loudly" (NeurIPS 2019),
and streams of images with known change points.

An :class:`ImageShift` is a ``family`` at a ``level`` applied to a ``fraction`` of the images
(its :attr:`~ImageShift.name`, e.g. ``gaussian_noise_large_0.5``):

* ``gaussian_noise`` -- add N(0, s^2) noise and clip to the pixel range; ``s`` is 1, 10 or 100
  (small, medium, large) on a 0..255 scale, scaled to the images' range (FL's values);
* ``image`` -- a random affine transform per image (Keras' ``ImageDataGenerator`` semantics,
  bilinear interpolation, "nearest" fill): rotation up to 10/40/90 degrees, shifts up to
  5/20/40 % of the side, shear up to 0.1/0.2/0.3 degrees, zoom by up to 10/20/40 %, horizontal
  flips from medium on, vertical flips at large (FL's values);
* ``occlusion`` -- an opaque square (pixels at the range's maximum) of 25/40/50 % of the side
  at a random place;
* ``impulse_noise`` -- image corruption by salt-and-pepper noise: each pixel set to the range's
  minimum or maximum with probability 0.03/0.1/0.3 (Hendrycks & Dietterich's "impulse noise");
* ``knockout`` -- class-prior shift: a ``fraction`` of the images of class ``knockout_class``
  (default 0) is removed (FL's "ko"; no level);
* ``none`` -- no shift (the null: detection rates are false-positive rates).

:func:`apply_shift` shifts a set of images (the rows it picks uniformly, without replacement);
:func:`shift_stream` draws a stream from a pool of images whose rows from each change point on
are shifted -- the ground truth a replay producer or a detector benchmark needs.

Example
-------
>>> import numpy as np
>>> images = np.tile(np.linspace(0, 16, 64, dtype=np.float32).reshape(8, 8), (10, 1, 1))
>>> labels = np.arange(10)
>>> shift = ImageShift("gaussian_noise", "large", 0.5)
>>> shifted, kept = apply_shift(shift, images, labels, np.random.default_rng(0))
>>> shift.name, int((np.abs(shifted - images) > 0).any(axis=(1, 2)).sum()), kept.shape
('gaussian_noise_large_0.5', 5, (10,))
>>> apply_shift(ImageShift("knockout", None, 1.0), images, labels,
...             np.random.default_rng(0))[1].tolist()
[1, 2, 3, 4, 5, 6, 7, 8, 9]
>>> stream = shift_stream(images, labels, ImageShift("occlusion", "large", 1.0), length=20,
...                       change_point=10, seed=0)
>>> stream.change_points, int(stream.shifted[:10].sum()), int(stream.shifted[10:].sum())
((10,), 0, 10)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["FAMILIES", "LEVELS", "ImageShift", "ShiftedStream", "affine_transform",
           "apply_shift", "shift_stream"]

LEVELS = ("small", "medium", "large")
#: families that take a level (knockout and none take none)
FAMILIES = ("gaussian_noise", "image", "occlusion", "impulse_noise", "knockout", "none")
_NOISE_STD_255 = {"small": 1.0, "medium": 10.0, "large": 100.0}
# rotation (deg), width shift, height shift, shear (deg), zoom, horizontal flip, vertical flip
_AFFINE = {"small": (10.0, 0.05, 0.05, 0.1, 0.1, False, False),
           "medium": (40.0, 0.2, 0.2, 0.2, 0.2, True, False),
           "large": (90.0, 0.4, 0.4, 0.3, 0.4, True, True)}
_OCCLUSION_SIDE = {"small": 0.25, "medium": 0.4, "large": 0.5}
_IMPULSE_PROBABILITY = {"small": 0.03, "medium": 0.1, "large": 0.3}


@dataclass(frozen=True)
class ImageShift:
    """A shift family at a level, applied to a fraction of the images (module docstring)."""

    family: str
    level: str | None = None
    fraction: float = 1.0
    knockout_class: int = 0

    def __post_init__(self) -> None:
        if self.family not in FAMILIES:
            raise ValueError(f"family must be one of {FAMILIES}, got {self.family!r}")
        takes_level = self.family not in ("knockout", "none")
        if takes_level and self.level not in LEVELS:
            raise ValueError(f"family {self.family} needs a level in {LEVELS}, got "
                             f"{self.level!r}")
        if not takes_level and self.level is not None:
            raise ValueError(f"family {self.family} takes no level, got {self.level!r}")
        if not 0.0 < self.fraction <= 1.0:
            raise ValueError(f"fraction must be in (0, 1], got {self.fraction}")

    @property
    def name(self) -> str:
        """``family[_level]_fraction`` (``none`` alone)."""
        if self.family == "none":
            return "none"
        parts = [self.family] + ([self.level] if self.level else []) + [f"{self.fraction:g}"]
        return "_".join(str(p) for p in parts)


@dataclass(frozen=True)
class ShiftedStream:
    """A stream of images with its ground truth: ``shifted`` marks the rows a shift touched,
    ``change_points`` where the distribution changed."""

    images: np.ndarray
    labels: np.ndarray
    shifted: np.ndarray
    change_points: tuple[int, ...]


def affine_transform(images: np.ndarray, matrices: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Each image ``(h, w)`` resampled at ``matrices[i] @ (r, c) + offsets[i]`` for every output
    pixel ``(r, c)`` (the inverse map, as ``scipy.ndimage.affine_transform``), bilinear, with
    coordinates outside clamped to the border ("nearest" fill)."""
    n, height, width = images.shape
    rows, cols = np.meshgrid(np.arange(height), np.arange(width), indexing="ij")
    grid = np.stack([rows.ravel(), cols.ravel()]).astype(np.float64)  # (2, h*w)
    source = np.einsum("nij,jp->nip", matrices, grid) + offsets[:, :, None]
    r = np.clip(source[:, 0], 0.0, height - 1.0)
    c = np.clip(source[:, 1], 0.0, width - 1.0)
    r0, c0 = np.floor(r).astype(np.intp), np.floor(c).astype(np.intp)
    r1, c1 = np.minimum(r0 + 1, height - 1), np.minimum(c0 + 1, width - 1)
    dr, dc = r - r0, c - c0
    flat = images.reshape(n, -1).astype(np.float64)
    at = np.arange(n)[:, None]

    def pick(rr: np.ndarray, cc: np.ndarray) -> np.ndarray:
        return flat[at, rr * width + cc]

    out = ((1 - dr) * (1 - dc) * pick(r0, c0) + (1 - dr) * dc * pick(r0, c1)
           + dr * (1 - dc) * pick(r1, c0) + dr * dc * pick(r1, c1))
    return out.reshape(n, height, width).astype(images.dtype)


def _random_affine(images: np.ndarray, level: str, rng: np.random.Generator) -> np.ndarray:
    rotation, width_shift, height_shift, shear, zoom, h_flip, v_flip = _AFFINE[level]
    n, height, width = images.shape
    theta = np.deg2rad(rng.uniform(-rotation, rotation, n))
    ty = rng.uniform(-height_shift, height_shift, n) * height
    tx = rng.uniform(-width_shift, width_shift, n) * width
    phi = np.deg2rad(rng.uniform(-shear, shear, n))
    zy, zx = rng.uniform(1 - zoom, 1 + zoom, (2, n))
    cos, sin = np.cos(theta), np.sin(theta)
    rotate = np.stack([np.stack([cos, -sin], -1), np.stack([sin, cos], -1)], 1)
    shear_m = np.stack([np.stack([np.ones(n), -np.sin(phi)], -1),
                        np.stack([np.zeros(n), np.cos(phi)], -1)], 1)
    zoom_m = np.zeros((n, 2, 2))
    zoom_m[:, 0, 0], zoom_m[:, 1, 1] = zy, zx
    matrices = rotate @ shear_m @ zoom_m
    center = np.array([(height - 1) / 2.0, (width - 1) / 2.0])
    offsets = center - np.einsum("nij,j->ni", matrices, center) + np.stack([ty, tx], -1)
    out = affine_transform(images, matrices, offsets)
    if h_flip:
        flip = rng.random(n) < 0.5
        out[flip] = out[flip][:, :, ::-1]
    if v_flip:
        flip = rng.random(n) < 0.5
        out[flip] = out[flip][:, ::-1, :]
    return out


def _shift_pixels(shift: ImageShift, images: np.ndarray, rng: np.random.Generator,
                  low: float, high: float) -> np.ndarray:
    assert shift.level is not None
    n, height, width = images.shape
    if shift.family == "gaussian_noise":
        std = _NOISE_STD_255[shift.level] / 255.0 * (high - low)
        return np.clip(images + rng.normal(0.0, std, images.shape), low, high).astype(
            images.dtype)
    if shift.family == "image":
        return _random_affine(images, shift.level, rng)
    if shift.family == "occlusion":
        side = max(1, round(_OCCLUSION_SIDE[shift.level] * min(height, width)))
        out = images.copy()
        tops = rng.integers(0, height - side + 1, n)
        lefts = rng.integers(0, width - side + 1, n)
        for k in range(n):
            out[k, tops[k]:tops[k] + side, lefts[k]:lefts[k] + side] = high
        return out
    hit = rng.random(images.shape) < _IMPULSE_PROBABILITY[shift.level]
    salt = rng.random(images.shape) < 0.5
    return np.where(hit, np.where(salt, high, low), images).astype(images.dtype)


def apply_shift(shift: ImageShift, images: np.ndarray, labels: np.ndarray,
                rng: np.random.Generator, value_range: tuple[float, float] = (0.0, 16.0),
                ) -> tuple[np.ndarray, np.ndarray]:
    """``(shifted images, kept rows)``: ``images`` ``(n, h, w)`` with the shift applied to
    ``ceil(fraction * n)`` of them, and the indices of the rows kept (all but a knock-out's)."""
    images = np.asarray(images)
    if images.ndim != 3:
        raise ValueError(f"images must be (n, height, width), got shape {images.shape}")
    n = images.shape[0]
    if shift.family == "none":
        return images.copy(), np.arange(n)
    if shift.family == "knockout":
        members = np.flatnonzero(np.asarray(labels) == shift.knockout_class)
        dropped = rng.choice(members, math.ceil(shift.fraction * members.size), replace=False)
        return images.copy(), np.setdiff1d(np.arange(n), dropped)
    out = images.copy()
    rows = rng.choice(n, math.ceil(shift.fraction * n), replace=False)
    out[rows] = _shift_pixels(shift, images[rows], rng, *value_range)
    return out, np.arange(n)


def shift_stream(images: np.ndarray, labels: np.ndarray, shift: ImageShift, *, length: int,
                 change_point: int, seed: int = 0,
                 value_range: tuple[float, float] = (0.0, 16.0)) -> ShiftedStream:
    """``length`` images drawn with replacement from the pool ``images``; from
    ``change_point`` on they come from the shifted pool (a fraction of the draws shifted, or for
    a knock-out drawn from the pool without the knocked-out images)."""
    if not 0 < change_point < length:
        raise ValueError(f"change_point must be in (0, length={length}), got {change_point}")
    rng = np.random.default_rng(seed)
    images, labels = np.asarray(images), np.asarray(labels)
    before = rng.integers(0, images.shape[0], change_point)
    after_n = length - change_point
    shifted = np.zeros(length, dtype=bool)
    if shift.family == "knockout":
        _, kept = apply_shift(shift, images, labels, rng, value_range)
        after = kept[rng.integers(0, kept.size, after_n)]
        tail = images[after]
        shifted[change_point:] = True
    else:
        after = rng.integers(0, images.shape[0], after_n)
        tail, _ = apply_shift(shift, images[after], labels[after], rng, value_range)
        shifted[change_point:] = (tail != images[after]).any(axis=(1, 2)) | (
            shift.family != "none" and shift.fraction == 1.0)
    return ShiftedStream(np.concatenate([images[before], tail]),
                         np.concatenate([labels[before], labels[after]]), shifted,
                         (change_point,))
