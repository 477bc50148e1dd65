"""The vision example built once per test session: the digits CNN, its events and a profile of
the reference events with every kind of reducer (``driftline train-digits`` then
``driftline profile --reducer ...``, through their functions)."""

from __future__ import annotations

from pathlib import Path

from driftline.configs import build_config
from driftline.dataloader.digits import DATA_DIR
from driftline.dataloader.schema import load_schema
from driftline.model.adapters.config import TorchScriptModelConfig
from driftline.model.digits_cnn import export_digits_example
from driftline.model.profile_builder import build_profile
from driftline.model.profile_files import write_profile
from driftline.model.profile_vectors import read_vector_samples
from driftline.model.reducers.spec import parse_reducer_option, resolve_specs
from driftline.model.reducers.store import fit_reducers

SCHEMA_PATH = DATA_DIR / "schema.yaml"
REDUCERS = ("pca:32", "srp:32", "uae:32", "bbsd", "bbsd:embedding", "none")


def model_config(directory: Path) -> TorchScriptModelConfig:
    """The ``model:`` section that serves the example's CNN."""
    return build_config({"kind": "torchscript", "artifacts_dir": str(directory),
                         "path": str(directory / "model.ts"),
                         "returns": ["probabilities", "embedding"],
                         "preprocessing": {"features": ["pixels"], "standardise": "none",
                                           "missing": "refuse"}}, TorchScriptModelConfig)


def build_digits_example(directory: Path, epochs: int = 15) -> Path:
    """Write the example's model, events, profile and reducers into ``directory``."""
    export_digits_example(directory, epochs=epochs)
    profile, report = build_profile(SCHEMA_PATH, directory / "digits_reference.jsonl")
    write_profile(directory, profile, SCHEMA_PATH, files=report.files)
    samples = read_vector_samples(directory, profile.vectors)
    specs = resolve_specs([parse_reducer_option(t) for t in REDUCERS], load_schema(SCHEMA_PATH))
    profile.reducers, files = fit_reducers(specs, load_schema(SCHEMA_PATH), samples)
    write_profile(directory, profile, SCHEMA_PATH, files={**report.files, **files})
    return directory
