"""A model trained once per test session with the shipped config (about two seconds)."""

from __future__ import annotations

from pathlib import Path

import pytest

from model.config import load_train_config
from model.train import TrainResult, train_and_save


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[TrainResult, Path]:
    config = load_train_config()
    return train_and_save(config, tmp_path_factory.mktemp("artifacts"))


@pytest.fixture(scope="session")
def artifacts_dir(trained: tuple[TrainResult, Path]) -> Path:
    return trained[1]
