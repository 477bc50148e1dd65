"""A small tabular data set for the adapter and training tests: a reference file with an
optional numeric field, a categorical field with rare categories (pooled into "other" by the
profile), a boolean and a label that depends on all three, its schema, and its profile.

The label is a deterministic function of the features, so a classifier can learn it well.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from driftline.model.profile_builder import build_profile
from driftline.model.profile_files import write_profile

CITIES = ["north", "south", "east", "west", "rare1", "rare2"]
CITY_SHARES = [0.4, 0.3, 0.15, 0.13, 0.01, 0.01]
CLASSES = ["low", "mid", "high"]

SCHEMA_TEXT = """\
encoding: json
event_time: {path: timestamp, unit: s}
fields:
  - {name: x, path: features.x, type: numeric, optional: true}
  - {name: city, path: features.city, type: categorical, max_categories: 4}
  - {name: garage, path: features.garage, type: boolean}
outputs:
  classes: [low, mid, high]
  label: {path: label}
"""


@dataclass
class Tabular:
    """The data set's files and its columns as written."""

    directory: Path
    schema: Path
    reference: Path
    artifacts: Path
    x: np.ndarray  # NaN where the reference row has no value
    city: np.ndarray
    garage: np.ndarray
    label: np.ndarray  # class indices


def labels_of(x: np.ndarray, city: np.ndarray, garage: np.ndarray) -> np.ndarray:
    """The class of each row: a threshold on a score of the three features."""
    score = (np.nan_to_num(x, nan=50.0) - 50.0) / 10.0 + np.where(city == "north", 1.0, 0.0) \
        - np.where(city == "south", 1.0, 0.0) + 0.8 * garage
    return np.where(score > 0.5, 2, np.where(score < -0.5, 0, 1))


def events(x: np.ndarray, city: np.ndarray, garage: np.ndarray, label: np.ndarray | None = None,
           ) -> list[bytes]:
    """The rows as JSON events of :data:`SCHEMA_TEXT` (ids ``e0``, ``e1``, ...)."""
    out = []
    for i in range(len(x)):
        features = {"city": str(city[i]), "garage": bool(garage[i])}
        if not np.isnan(x[i]):
            features["x"] = float(x[i])
        event = {"event_id": f"e{i}", "features": features}
        if label is not None:
            event["label"] = CLASSES[int(label[i])]
        out.append(json.dumps(event).encode())
    return out


def write_tabular(directory: Path, n: int = 2000, seed: int = 0) -> Tabular:
    """Write ``schema.yaml``, ``reference.csv`` (and ``.parquet``, ``.jsonl``) and the profile
    (``artifacts/``) into ``directory``."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    x = np.round(rng.normal(50.0, 10.0, n), 4)
    x[::40] = np.nan
    city = rng.choice(CITIES, n, p=CITY_SHARES)
    garage = rng.random(n) < 0.3
    label = labels_of(x, city, garage)
    schema = directory / "schema.yaml"
    schema.write_text(SCHEMA_TEXT)
    reference = directory / "reference.csv"
    lines = ["x,city,garage,label"]
    lines += [f"{'' if np.isnan(x[i]) else x[i]},{city[i]},{str(garage[i]).lower()},"
              f"{CLASSES[label[i]]}" for i in range(n)]
    reference.write_text("\n".join(lines) + "\n")
    pq.write_table(pa.table({"x": pa.array(x, from_pandas=True), "city": city.tolist(),
                             "garage": garage.tolist(),
                             "label": [CLASSES[i] for i in label]}),
                   directory / "reference.parquet")
    (directory / "reference.jsonl").write_text(
        "\n".join(e.decode() for e in events(x, city, garage, label)) + "\n")
    artifacts = directory / "artifacts"
    profile, _ = build_profile(schema, reference)
    write_profile(artifacts, profile, schema)
    return Tabular(directory, schema, reference, artifacts, x, city, garage, label)
