"""Build a worked example's artifacts in a temporary directory, as its README's commands do.

:func:`build_example` runs the example's commands (``driftline profile``, ``train-classifier``
and, for solar_flare, the stand-in service and its reference log) with every output under
``tmp`` and returns its run and Kafka configs rewritten to those outputs (inputs made absolute,
no dead-letter file, no metrics port).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from driftline.utils.cli import main

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "configs" / "examples"


def rewritten(config: Path, out: Path, **model: str) -> dict[str, Any]:
    """``config``'s data with its inputs made absolute and ``model`` keys replaced."""
    data = yaml.safe_load(config.read_text())
    data["model"].update(model)
    file = data.get("source", {}).get("file")
    if file is not None:
        file["path"], file["schema"] = str(ROOT / file["path"]), str(ROOT / file["schema"])
    data.get("dead_letter", {}).pop("path", None)
    return data


def _cli(*argv: str) -> None:
    assert main(list(argv)) == 0, argv


def _write(data: dict[str, Any], path: Path) -> Path:
    path.write_text(yaml.safe_dump(data))
    return path


def build_example(name: str, tmp: Path) -> tuple[Path, Path]:
    """``(run config, kafka config)`` of example ``name`` built in ``tmp``."""
    example = EXAMPLES / name
    reference = example / "data" / "reference.csv.gz"
    artifacts = str(tmp / "artifacts")
    if name == "image_segments":
        model = {"artifacts_dir": artifacts, "path": str(tmp / "model.ts")}
        run = _write(rewritten(example / "run.yaml", tmp, **model), tmp / "run.yaml")
        _cli("profile", "--schema", str(example / "schema.yaml"), "--reference",
             str(reference), "--output-dir", artifacts, "--progress", "none")
        _cli("train-classifier", "--config", str(run), "--reference", str(reference))
        kafka = _write(rewritten(example / "kafka.yaml", tmp, **model), tmp / "kafka.yaml")
        return run, kafka
    service_dir = tmp / "service"
    service_dir.mkdir()
    service = _write(rewritten(example / "service" / "model.yaml", service_dir,
                               artifacts_dir=str(service_dir / "artifacts"),
                               path=str(service_dir / "model.ts")), service_dir / "model.yaml")
    _cli("profile", "--schema", str(example / "service" / "schema.yaml"), "--reference",
         str(reference), "--output-dir", str(service_dir / "artifacts"),
         "--unknown-columns", "ignore", "--progress", "none")
    _cli("train-classifier", "--config", str(service), "--reference", str(reference),
         "--hidden-sizes", "16", "--epochs", "40")
    run_data = rewritten(example / "run.yaml", tmp, artifacts_dir=artifacts)
    run_data["source"]["file"]["predictions"]["model"] = str(service)
    run = _write(run_data, tmp / "run.yaml")
    log = tmp / "reference-events.jsonl"
    _cli("replay", "--replay-config", str(run), "--file", str(reference), "--order", "file",
         "--no-drift", "--output", str(log))
    _cli("profile", "--schema", str(example / "schema.yaml"), "--reference", str(log),
         "--output-dir", artifacts, "--progress", "none")
    kafka = _write(rewritten(example / "kafka.yaml", tmp, artifacts_dir=artifacts),
                   tmp / "kafka.yaml")
    return run, kafka
