"""Fixtures of the model tests: the tabular data set of :mod:`tests.model.tabular_data` and the
vision example of :mod:`tests.digits_example`."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.digits_example import build_digits_example
from tests.model.tabular_data import Tabular, write_tabular


@pytest.fixture(scope="session")
def tabular(tmp_path_factory: pytest.TempPathFactory) -> Tabular:
    return write_tabular(tmp_path_factory.mktemp("tabular"))


@pytest.fixture(scope="session")
def digits_example(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The vision example's artifacts (:mod:`tests.digits_example`)."""
    return build_digits_example(tmp_path_factory.mktemp("digits"))
