"""Failing Loudly's experiment on the 8x8 digits: how often does reduce-then-test detect a shift?

Rabanser, Günnemann & Lipton ("Failing Loudly: An Empirical Study of Methods for Detecting
Dataset Shift", NeurIPS 2019; code: github.com/steverab/failing-loudly) compare two-sample tests
of a clean sample against a shifted sample of the same size ``n``, after a dimensionality
reduction. This module runs their protocol with driftline's reducers (:mod:`model.reducers`) and
the tests of :mod:`evaluation.two_sample`:

1. The digits are split (:func:`dataloader.digits.load_digits_split`, ``seed``): the CNN
   (:mod:`model.digits_cnn`) and the reducers are fitted on ``train``; the held-out images
   (``reference`` and ``test``, 899) are the pool both samples are drawn from.
2. Reducers (FL's names): ``none`` (NoRed, the 64 pixels), ``pca`` and ``srp`` (32 components),
   ``uae`` (an untrained convolutional encoder, 32), ``bbsd`` (the CNN's softmax, BBSDs).
3. Per shift (:class:`dataloader.image_shifts.ImageShift`) and repetition: the shift is applied
   to a copy of the pool (a ``fraction`` of its images, or a class knocked out); ``max(n)`` clean
   and ``max(n)`` shifted images are drawn with replacement (the first ``n`` of them form the
   samples of size ``n``, nested as in FL); each reducer maps both; each test gives a p-value.
4. Tests: ``ks_bonferroni`` (a KS test per component, Bonferroni), ``mmd`` (unbiased MMD^2,
   permutation p-value), ``chi2_classes`` (BBSD's predicted classes, FL's "BBSDh";
   permutation p-value too). Shift is
   detected when ``p <= alpha``; the detection rate is over the repetitions. The null (no
   shift) is always run: its rate is the false-positive rate, ``alpha`` when a test is exact.

Drawing both samples from one pool makes the null exact: without a shift both are independent
draws from the same distribution, whatever the pool (FL drew them from disjoint halves of
MNIST's 10,000 test images; the digits' few hundred images per half would make the two halves
themselves detectably different at ``n = 1000``). docs/failing-loudly.md compares the results
with FL's.

Example
-------
>>> from driftline.configs import build_config
>>> config = build_config({"protocol": "failing_loudly", "repetitions": 2, "sample_sizes": [50],
...     "reducers": ["pca", "bbsd"], "mmd_permutations": 50, "cnn_epochs": 5, "progress": False,
...     "shifts": {"families": ["gaussian_noise"], "levels": ["large"], "fractions": [1.0]}},
...     FailingLoudlyConfig)
>>> result = run_failing_loudly(config)
>>> result.methods()[:3]
[('ks_bonferroni', 'pca'), ('ks_bonferroni', 'bbsd'), ('mmd', 'pca')]
>>> float(result.rates("mmd", "pca", "gaussian_noise_large_1")[0])
1.0
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from driftline.dataloader.digits import IMAGE_SHAPE, ImageSet, load_digits_split
from driftline.dataloader.image_shifts import ImageShift, apply_shift
from driftline.evaluation.failing_loudly_config import FailingLoudlyConfig
from driftline.evaluation.two_sample import chi2_classes_p, ks_bonferroni_p, mmd_permutation_p
from driftline.model.digits_cnn import DigitsCNN, train_digits_cnn
from driftline.model.reducers.autoencoder import fit_uae
from driftline.model.reducers.base import IdentityReducer, Reducer
from driftline.model.reducers.linear import fit_pca, fit_srp

__all__ = ["FailingLoudlyResult", "run_failing_loudly"]


@dataclass
class FailingLoudlyResult:
    """Detection counts per test, reducer, shift and sample size (``sample_sizes`` order)."""

    config: FailingLoudlyConfig
    shifts: list[ImageShift]
    counts: dict[tuple[str, str, str], np.ndarray] = field(default_factory=dict)
    dimensions: dict[str, int] = field(default_factory=dict)
    accuracy: float = 0.0
    seconds: float = 0.0

    def methods(self) -> list[tuple[str, str]]:
        """``(test, reducer)`` pairs that were run, in config order."""
        return [(test, reducer) for test in self.config.tests
                for reducer in self.config.reducers
                if test != "chi2_classes" or reducer == "bbsd"]

    def rates(self, test: str, reducer: str, shift: str) -> np.ndarray:
        """Detection rate at each sample size."""
        return self.counts[(test, reducer, shift)] / self.config.repetitions

    def mean_rates(self, test: str, reducer: str) -> np.ndarray:
        """Detection rate at each sample size averaged over every shift (the null excluded):
        FL's aggregate."""
        shifted = [s.name for s in self.shifts if s.family != "none"]
        return np.mean([self.rates(test, reducer, name) for name in shifted], axis=0)

    def to_json(self) -> dict[str, Any]:
        """Plain values: the config, and one record per test, reducer, shift and size."""
        records = [{"test": test, "reducer": reducer, "shift": shift, "sample_size": n,
                    "detections": int(count), "repetitions": self.config.repetitions}
                   for (test, reducer, shift), counts in self.counts.items()
                   for n, count in zip(self.config.sample_sizes, counts, strict=True)]
        return {"config": self.config.model_dump(), "dimensions": self.dimensions,
                "cnn_accuracy": self.accuracy, "seconds": self.seconds, "records": records}


def _reducers(config: FailingLoudlyConfig, train: ImageSet) -> dict[str, Reducer]:
    flat = train.flat()
    size = flat.shape[1]
    k = config.n_components
    build = {"none": lambda: IdentityReducer("none", "pixels", size),
             "pca": lambda: fit_pca("pca", "pixels", flat, k),
             "srp": lambda: fit_srp("srp", "pixels", size, k, seed=config.seed),
             "uae": lambda: fit_uae("uae", "pixels", flat, list(IMAGE_SHAPE), k,
                                    seed=config.seed)}
    return {name: build[name]() for name in config.reducers if name != "bbsd"}


def _reduce(images: np.ndarray, reducers: dict[str, Reducer], cnn: DigitsCNN | None,
            ) -> dict[str, np.ndarray]:
    flat = np.ascontiguousarray(images.reshape(len(images), -1), dtype=np.float32)
    out = {name: reducer.transform(flat) for name, reducer in reducers.items()}
    if cnn is not None:
        with torch.inference_mode():
            out["bbsd"] = cnn(torch.from_numpy(flat))[0].numpy()
    return out


def _test(test: str, x: np.ndarray, y: np.ndarray, config: FailingLoudlyConfig,
          rng: np.random.Generator) -> float:
    if test == "ks_bonferroni":
        return ks_bonferroni_p(x, y)
    if test == "mmd":
        return mmd_permutation_p(x, y, config.mmd_permutations, rng)
    return chi2_classes_p(x.argmax(axis=1), y.argmax(axis=1), x.shape[1],
                          config.mmd_permutations, rng)


def run_failing_loudly(config: FailingLoudlyConfig) -> FailingLoudlyResult:
    """Run the protocol of the module docstring."""
    started = time.perf_counter()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        split = load_digits_split(config.seed)
        trained = train_digits_cnn(split.train, epochs=config.cnn_epochs, seed=config.seed)
        pool = ImageSet(np.concatenate([split.reference.images, split.test.images]),
                        np.concatenate([split.reference.labels, split.test.labels]))
        reducers = _reducers(config, split.train)
        cnn = trained.module if "bbsd" in config.reducers else None
        clean = _reduce(pool.images, reducers, cnn)
        result = FailingLoudlyResult(config, config.shift_list(),
                                     dimensions={name: int(v.shape[1])
                                                 for name, v in clean.items()},
                                     accuracy=trained.accuracy(pool))
        methods = result.methods()
        sizes = config.sample_sizes
        for name in [s.name for s in result.shifts]:
            for test, reducer in methods:
                result.counts[(test, reducer, name)] = np.zeros(len(sizes), dtype=np.int64)
        steps = [(i, shift, rep) for i, shift in enumerate(result.shifts)
                 for rep in range(config.repetitions)]
        for i, shift, rep in _progress(steps, config.progress):
            rng = np.random.default_rng([config.seed, i, rep])
            images, kept = apply_shift(shift, pool.images, pool.labels, rng)
            shifted = _reduce(images[kept], reducers, cnn)
            clean_rows = rng.integers(0, len(pool), sizes[-1])
            shifted_rows = rng.integers(0, kept.size, sizes[-1])
            for j, n in enumerate(sizes):
                for test, reducer in methods:
                    p = _test(test, clean[reducer][clean_rows[:n]],
                              shifted[reducer][shifted_rows[:n]], config, rng)
                    result.counts[(test, reducer, shift.name)][j] += p <= config.alpha
    finally:
        torch.set_num_threads(threads)
    result.seconds = time.perf_counter() - started
    return result


def _progress(steps: list[Any], show: bool) -> Any:
    if not show:
        return steps
    from tqdm import tqdm

    return tqdm(steps, desc="failing loudly", unit=" draws")
