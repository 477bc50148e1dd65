"""Fixtures of the model tests: the tabular data set of :mod:`tests.model.tabular_data`."""

from __future__ import annotations

import pytest

from tests.model.tabular_data import Tabular, write_tabular


@pytest.fixture(scope="session")
def tabular(tmp_path_factory: pytest.TempPathFactory) -> Tabular:
    return write_tabular(tmp_path_factory.mktemp("tabular"))
