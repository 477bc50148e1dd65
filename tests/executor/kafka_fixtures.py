"""Fixtures of the Kafka executor tests (registered as a plugin by tests/conftest.py).

Calibrating the detectors takes seconds; the executor caches the calibrated state of a fresh
pipeline in its checkpoint directory (:meth:`executor.kafka_runner.KafkaExecutor.prepare`). The
session computes it once and every test's checkpoint directory starts with a copy, so executor
processes start in about as long as importing torch takes.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from driftline.configs import build_config
from driftline.executor.config import RunConfig
from tests.executor.kafka_helpers import run_config


@pytest.fixture(scope="session")
def kafka_model(loaded_model: Any) -> Any:
    return loaded_model


@pytest.fixture(scope="session")
def pipeline_template(tmp_path_factory: pytest.TempPathFactory, artifacts_dir: Path,
                      kafka_model: Any) -> Path:
    """The checkpoint file holding the calibrated fresh-pipeline state of the test config."""
    from driftline.executor.kafka_runner import KafkaExecutor

    directory = tmp_path_factory.mktemp("template")
    raw = run_config(directory, bootstrap="127.0.0.1:9", topic="t", group="g",
                     artifacts_dir=artifacts_dir, checkpoint_dir=directory)
    executor = KafkaExecutor(build_config(raw, RunConfig), model=kafka_model)
    executor.prepare()
    path = executor.template_store.path(executor.template_key(), 0)
    assert path.is_file()
    return path


@pytest.fixture
def checkpoint_dir(tmp_path: Path, pipeline_template: Path) -> Path:
    """An empty checkpoint directory holding only the calibrated fresh-pipeline state."""
    directory = tmp_path / "checkpoints"
    directory.mkdir()
    shutil.copy(pipeline_template, directory / pipeline_template.name)
    return directory
