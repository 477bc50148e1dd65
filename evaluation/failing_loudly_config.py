"""Schema of the Failing Loudly evaluation config (``configs/evaluate_failing_loudly.yaml``): the
protocol of :mod:`evaluation.failing_loudly`, selected in ``driftline evaluate`` by
``protocol: failing_loudly``.

Example
-------
>>> from driftline.configs import CONFIG_DIR, load_config
>>> config = load_config(CONFIG_DIR / "evaluate_failing_loudly.yaml", FailingLoudlyConfig)
>>> config.repetitions >= 20, config.sample_sizes
(True, [10, 20, 50, 100, 200, 500, 1000])
>>> [shift.name for shift in config.shift_list()][:2]
['none', 'gaussian_noise_small_0.1']
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from driftline.configs import ConfigModel, key_error
from driftline.dataloader.image_shifts import ImageShift

__all__ = ["FailingLoudlyConfig", "ShiftsConfig"]

Reducer = Literal["none", "pca", "srp", "uae", "bbsd"]
Test = Literal["ks_bonferroni", "mmd", "chi2_classes"]
Family = Literal["gaussian_noise", "image", "occlusion", "impulse_noise", "knockout"]
Level = Literal["small", "medium", "large"]


class ShiftsConfig(ConfigModel):
    """The shifts: every family at every level (knockout has none) and every fraction of images
    affected; the null (no shift) is always run too."""

    families: list[Family] = Field(default_factory=lambda: [
        "gaussian_noise", "image", "occlusion", "impulse_noise", "knockout"], min_length=1)
    levels: list[Level] = Field(default_factory=lambda: ["small", "medium", "large"],
                                min_length=1)
    fractions: list[float] = Field(default_factory=lambda: [0.1, 0.5, 1.0], min_length=1)

    @model_validator(mode="after")
    def _check(self) -> ShiftsConfig:
        for i, fraction in enumerate(self.fractions):
            if not 0.0 < fraction <= 1.0:
                raise key_error(f"fractions[{i}]", f"must be in (0, 1], got {fraction}")
        return self


class FailingLoudlyConfig(ConfigModel):
    """Rabanser et al.'s protocol on the 8x8 digits (see :mod:`evaluation.failing_loudly`).

    ``repetitions`` independent draws per shift; a detection is a p-value ``<= alpha``.
    Reducers keep ``n_components`` (FL: 32); BBSD is the CNN's softmax (10). ``mmd_permutations``
    permutations per MMD (and chi-square) test (FL: 1000). ``seed`` fixes the split, the CNN
    and the reducers; every repetition draws from its own stream of it.
    """

    protocol: Literal["failing_loudly"]
    output_dir: str = "runs/failing_loudly"
    seed: int = Field(0, ge=0)
    repetitions: int = Field(20, ge=2)
    alpha: float = Field(0.05, gt=0.0, lt=1.0)
    sample_sizes: list[int] = Field(default_factory=lambda: [10, 20, 50, 100, 200, 500, 1000],
                                    min_length=1)
    reducers: list[Reducer] = Field(default_factory=lambda: ["none", "pca", "srp", "uae",
                                                             "bbsd"], min_length=1)
    tests: list[Test] = Field(default_factory=lambda: ["ks_bonferroni", "mmd", "chi2_classes"],
                              min_length=1)
    n_components: int = Field(32, ge=1, le=64)
    mmd_permutations: int = Field(1000, ge=19)
    cnn_epochs: int = Field(40, ge=1)
    shifts: ShiftsConfig = Field(default_factory=ShiftsConfig)
    progress: bool = True

    @model_validator(mode="after")
    def _check(self) -> FailingLoudlyConfig:
        for i, size in enumerate(self.sample_sizes):
            if size < 2:
                raise key_error(f"sample_sizes[{i}]", f"must be >= 2, got {size}")
        if self.sample_sizes != sorted(set(self.sample_sizes)):
            raise key_error("sample_sizes", f"must increase, got {self.sample_sizes}")
        if "chi2_classes" in self.tests and "bbsd" not in self.reducers:
            raise key_error("tests", "chi2_classes tests BBSD's predicted classes: add bbsd to "
                            "reducers")
        return self

    def shift_list(self) -> list[ImageShift]:
        """The null, then every configured shift."""
        out = [ImageShift("none")]
        for family in self.shifts.families:
            levels: list[str | None] = [None] if family == "knockout" else list(
                self.shifts.levels)
            for level in levels:
                out += [ImageShift(family, level, fraction) for fraction in self.shifts.fractions]
        return out
