"""The Failing Loudly table, next to the paper's finding, and its plot.

* :func:`summary_table` -- FL's aggregate (their Table 1): per test and reducer, the detection
  rate at each sample size averaged over every shift, and the false-positive rate (the null);
* :func:`family_table` -- the detection rate per shift family and level at one sample size;
* :func:`findings` -- the paper's published finding and what our numbers say about each part;
* :func:`plot_detection_rates` -- detection rate against sample size, one panel per test;
* :func:`write_results` -- ``results.md``, ``results.json`` and ``detection_rates.png``.

Example
-------
>>> from driftline.configs import build_config
>>> from driftline.evaluation.failing_loudly import run_failing_loudly
>>> config = build_config({"protocol": "failing_loudly", "repetitions": 2, "sample_sizes": [50],
...     "reducers": ["pca", "bbsd"], "mmd_permutations": 50, "cnn_epochs": 5, "progress": False,
...     "shifts": {"families": ["gaussian_noise"], "levels": ["large"], "fractions": [1.0]}},
...     FailingLoudlyConfig)
>>> print(summary_table(run_failing_loudly(config)).splitlines()[2])
| KS, Bonferroni | PCA | 1.00 | 0.00 |
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from driftline.evaluation.failing_loudly import FailingLoudlyResult
from driftline.evaluation.failing_loudly_config import FailingLoudlyConfig

__all__ = ["PUBLISHED_FINDING", "family_table", "findings", "plot_detection_rates",
           "summary_table", "write_results"]

TEST_NAMES = {"ks_bonferroni": "KS, Bonferroni", "mmd": "MMD", "chi2_classes": "χ² classes"}
REDUCER_NAMES = {"none": "NoRed", "pca": "PCA", "srp": "SRP", "uae": "UAE", "bbsd": "BBSDs"}
#: FL's result, in our words (Rabanser, Günnemann & Lipton, NeurIPS 2019, Section 5 and Table 1)
PUBLISHED_FINDING = (
    "Failing Loudly (MNIST and CIFAR-10, aggregated over their shifts): BBSD on the softmax "
    "with univariate KS tests (Bonferroni) detects shift best overall; multivariate MMD tests "
    "are competitive, best on an untrained autoencoder's representation (UAE); detection "
    "grows with the sample size; small perturbations of a small fraction of the images are "
    "hard for every method.")


def _label(test: str, reducer: str) -> str:
    reducer_name = "BBSDh" if test == "chi2_classes" else REDUCER_NAMES[reducer]
    return f"| {TEST_NAMES[test]} | {reducer_name} |"


def summary_table(result: FailingLoudlyResult) -> str:
    """Markdown: detection rate averaged over the shifts per sample size, and the null's."""
    sizes = result.config.sample_sizes
    lines = ["| test | reducer | " + " | ".join(f"n={n}" for n in sizes) + " | null |",
             "|---|---|" + "---:|" * (len(sizes) + 1)]
    for test, reducer in result.methods():
        rates = result.mean_rates(test, reducer)
        null = float(result.rates(test, reducer, "none").mean())
        lines.append(_label(test, reducer) + "".join(f" {r:.2f} |" for r in rates)
                     + f" {null:.2f} |")
    return "\n".join(lines)


def family_table(result: FailingLoudlyResult, sample_size: int | None = None) -> str:
    """Markdown: per shift family and level (averaged over the fractions), the detection rate of
    every method at ``sample_size`` (default: the largest)."""
    sizes = result.config.sample_sizes
    n = sizes[-1] if sample_size is None else sample_size
    column = sizes.index(n)
    groups: dict[str, list[str]] = {}
    for shift in result.shifts:
        key = shift.family if shift.level is None else f"{shift.family} {shift.level}"
        groups.setdefault(key, []).append(shift.name)
    methods = result.methods()
    lines = ["| shift (n=" + str(n) + ") | " + " | ".join(
        _label(t, r).strip("| ").replace(" | ", " ") for t, r in methods) + " |",
        "|---|" + "---:|" * len(methods)]
    for key, names in groups.items():
        cells = [np.mean([result.rates(t, r, name)[column] for name in names])
                 for t, r in methods]
        lines.append(f"| {key} |" + "".join(f" {c:.2f} |" for c in cells))
    return "\n".join(lines)


def findings(result: FailingLoudlyResult) -> list[str]:
    """The published finding, then one line per part of it saying what our numbers show."""
    methods = [m for m in result.methods() if m[0] != "chi2_classes"]
    overall = {m: float(result.mean_rates(*m).mean()) for m in methods}
    ranked = sorted(overall, key=lambda m: -overall[m])
    best = ranked[0]
    lines = [PUBLISHED_FINDING, ""]
    name = " + ".join((TEST_NAMES[best[0]], REDUCER_NAMES[best[1]]))
    verdict = "as in FL" if best == ("ks_bonferroni", "bbsd") else "unlike FL"
    lines.append(f"- Best overall here: {name} (mean detection rate {overall[best]:.2f} over "
                 f"shifts and sample sizes), {verdict}.")
    if ("ks_bonferroni", "bbsd") in overall and best != ("ks_bonferroni", "bbsd"):
        lines.append(f"- BBSDs + KS, Bonferroni: {overall[('ks_bonferroni', 'bbsd')]:.2f}, "
                     f"rank {ranked.index(('ks_bonferroni', 'bbsd')) + 1} of {len(ranked)}.")
    mmd = [m for m in ranked if m[0] == "mmd"]
    if mmd:
        top = mmd[0]
        lines.append(f"- Best MMD: {REDUCER_NAMES[top[1]]} ({overall[top]:.2f}); "
                     f"{overall[top] - overall[best]:+.2f} from the best overall.")
    first, last = (np.mean([result.mean_rates(*m)[i] for m in methods]) for i in (0, -1))
    lines.append(f"- Detection grows with n: {first:.2f} at n={result.config.sample_sizes[0]} "
                 f"to {last:.2f} at n={result.config.sample_sizes[-1]} (all methods).")
    nulls = [float(result.rates(*m, "none").mean()) for m in result.methods()]
    lines.append(f"- False-positive rate without shift: {min(nulls):.2f} to {max(nulls):.2f} "
                 f"(alpha {result.config.alpha}).")
    return lines


def plot_detection_rates(result: FailingLoudlyResult, path: str | Path | None = None) -> Any:
    """Detection rate (averaged over shifts) against sample size, a panel per test, and the
    null's rate dotted; saved to ``path`` when given; returns the figure."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tests = list(dict.fromkeys(t for t, _ in result.methods() if t != "chi2_classes"))
    figure, axes = plt.subplots(1, len(tests), figsize=(5.5 * len(tests), 4), sharey=True,
                                squeeze=False)
    sizes = result.config.sample_sizes
    for axis, test in zip(axes[0], tests, strict=True):
        for (t, reducer), color in zip(result.methods(), plt.cm.tab10.colors, strict=False):
            if t != test and not (test == "ks_bonferroni" and t == "chi2_classes"):
                continue
            label = "BBSDh + χ²" if t == "chi2_classes" else REDUCER_NAMES[reducer]
            axis.plot(sizes, result.mean_rates(t, reducer), "o-", color=color, label=label)
            axis.plot(sizes, result.rates(t, reducer, "none"), ":", color=color)
        axis.axhline(result.config.alpha, color="grey", lw=0.8)
        axis.set(xscale="log", xlabel="sample size n", title=TEST_NAMES[test], ylim=(0, 1.02))
        axis.legend(fontsize=8, loc="upper left")
    axes[0][0].set_ylabel("detection rate (dotted: no shift)")
    figure.tight_layout()
    if path is not None:
        figure.savefig(path, dpi=100)
    return figure


def write_results(directory: str | Path, result: FailingLoudlyResult) -> list[Path]:
    """Write ``results.md``, ``results.json`` and ``detection_rates.png``; return the paths."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    config: FailingLoudlyConfig = result.config
    text = [f"# Failing Loudly on the 8x8 digits ({config.repetitions} repetitions, alpha "
            f"{config.alpha})", "",
            f"CNN accuracy on the held-out pool: {result.accuracy:.3f}; reduced dimensions: "
            + ", ".join(f"{REDUCER_NAMES[k]} {v}" for k, v in result.dimensions.items())
            + f"; {len(result.shifts) - 1} shifts; {result.seconds:.0f} s.", "",
            "## Detection rate averaged over the shifts (null: no shift)", "",
            summary_table(result), "", "## By shift family and level", "",
            family_table(result), "", "## Against the published finding", "",
            *findings(result), ""]
    paths = [directory / "results.md", directory / "results.json",
             directory / "detection_rates.png"]
    paths[0].write_text("\n".join(text), encoding="utf-8")
    paths[1].write_text(json.dumps(result.to_json(), indent=1) + "\n", encoding="utf-8")
    plot_detection_rates(result, paths[2])
    return paths
