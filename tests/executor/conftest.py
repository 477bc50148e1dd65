"""Fixtures of the executor tests: the model trained for the session, loaded once.

(The Kafka fixtures live in tests/executor/kafka_fixtures.py, registered by tests/conftest.py;
cheap run configs come from tests/executor/pipeline_helpers.py.)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest


@pytest.fixture(scope="session")
def loaded_model(artifacts_dir: Path) -> Any:
    from driftline.model.artifacts import load_artifacts

    return load_artifacts(artifacts_dir)
