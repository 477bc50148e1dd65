"""Per-month quality of a trained model on the 36 production months of the insurance data.

Labels are known for every month, so the table shows directly how the served predictions degrade
as ``age``, ``emergency_braking`` and ``miles`` drift away from the training period.

Example
-------
>>> from driftline.model.months import MonthQuality, months_table
>>> row = MonthQuality(month=1, n_rows=1500, accuracy=0.73, macro_f1=0.71, model_accuracy=0.73,
...                    fallback_rate=0.02, feature_means={"age": 36.14})
>>> print(months_table([row]))
| month | rows | accuracy | macro-F1 | network accuracy | fallback rate | mean age |
|---:|---:|---:|---:|---:|---:|---:|
| 1 | 1500 | 0.730 | 0.710 | 0.730 | 0.020 | 36.14 |

With a trained model: ``months_table(evaluate_months(load_artifacts("artifacts")))``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from driftline.dataloader.insurance import DRIFTING_FEATURES, GROUP_NAMES, N_MONTHS, load_month
from driftline.model.artifacts import LoadedModel
from driftline.model.metrics import accuracy, macro_f1

__all__ = ["MonthQuality", "evaluate_months", "months_table"]


@dataclass(frozen=True)
class MonthQuality:
    """Quality of the served predictions on one month (month 0: the reference split)."""

    month: int
    n_rows: int
    accuracy: float
    macro_f1: float
    model_accuracy: float
    fallback_rate: float
    feature_means: dict[str, float]


def evaluate_months(model: LoadedModel, months: Iterable[int] | None = None,
                    data_dir: str | Path | None = None) -> list[MonthQuality]:
    """Evaluate ``model`` on ``months`` (default 1..36), in month order."""
    selected = sorted(set(range(1, N_MONTHS + 1) if months is None else months))
    rows = []
    for month in selected:
        data = load_month(month, data_dir)
        served = model.predict(data.features)
        rows.append(MonthQuality(
            month=month,
            n_rows=len(data),
            accuracy=accuracy(data.group, served.labels),
            macro_f1=macro_f1(data.group, served.labels, len(GROUP_NAMES)),
            model_accuracy=accuracy(data.group, served.model_labels),
            fallback_rate=float(served.used_fallback.mean()),
            feature_means={n: float(data.column(n).mean()) for n in DRIFTING_FEATURES},
        ))
    return rows


def months_table(rows: Sequence[MonthQuality]) -> str:
    """Markdown table: month, accuracy, macro-F1, network accuracy, fallback rate, means."""
    features = list(rows[0].feature_means) if rows else list(DRIFTING_FEATURES)
    header = (["month", "rows", "accuracy", "macro-F1", "network accuracy", "fallback rate"]
              + [f"mean {name}" for name in features])
    lines = ["| " + " | ".join(header) + " |",
             "|" + "|".join("---:" for _ in header) + "|"]
    for row in rows:
        cells = [str(row.month), str(row.n_rows), f"{row.accuracy:.3f}", f"{row.macro_f1:.3f}",
                 f"{row.model_accuracy:.3f}", f"{row.fallback_rate:.3f}"]
        cells += [f"{row.feature_means[name]:.2f}" for name in features]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
