"""Preprocessing against a hand computation: standardisation from the reference file's own
mean/std (numpy on the CSV column), one-hot over the profile's categories with the reserved
codes, booleans as 0/1, each missing-value policy, and the decoder's batches as input."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from driftline.configs import build_config
from driftline.dataloader.schema import EventSchema, load_schema
from driftline.executor.schema_decoder import SchemaDecoder
from driftline.model.adapters.base import InputBatch, ModelError, ModelLoadError
from driftline.model.adapters.config import PreprocessingConfig
from driftline.model.adapters.preprocessing import Preprocessor
from driftline.model.profile_files import read_profile
from tests.model.tabular_data import Tabular, events

TOP = ["north", "south", "east", "west"]  # the profile's categories, most frequent first


def preprocessor(tabular: Tabular, **config: Any) -> Preprocessor:
    return Preprocessor(build_config(config, PreprocessingConfig), load_schema(tabular.schema),
                        read_profile(tabular.artifacts), source="run.yaml",
                        schema_path=tabular.schema)


def decoded(tabular: Tabular, rows: slice = slice(None)) -> Any:
    decoder = SchemaDecoder.from_profile(load_schema(tabular.schema),
                                         read_profile(tabular.artifacts))
    values = events(tabular.x[rows], tabular.city[rows], tabular.garage[rows])
    batch = decoder.decode_batch(values, topic="t", partition=0, offsets=list(range(len(values))))
    assert not batch.dead_letters
    return batch


def hand_one_hot(city: np.ndarray, unseen_to_other: bool = True) -> np.ndarray:
    out = np.zeros((len(city), len(TOP) + 1))
    for i, value in enumerate(city):
        if value in TOP:
            out[i, TOP.index(value)] = 1.0
        elif value in ("rare1", "rare2") or unseen_to_other:
            out[i, len(TOP)] = 1.0
    return out


def test_standardisation_and_one_hot_match_a_hand_computation(tabular: Tabular) -> None:
    pre = preprocessor(tabular)
    assert pre.input_names == ["x", "city=north", "city=south", "city=east", "city=west",
                               "city=__other__", "garage"]
    X = pre.transform(decoded(tabular))
    present = ~np.isnan(tabular.x)
    mean, std = tabular.x[present].mean(), tabular.x[present].std()  # population std
    np.testing.assert_allclose(X[present, 0], (tabular.x[present] - mean) / std, rtol=1e-12)
    np.testing.assert_allclose(X[~present, 0], 0.0, atol=1e-12)  # imputed with the mean
    np.testing.assert_array_equal(X[:, 1:6], hand_one_hot(tabular.city))
    np.testing.assert_array_equal(X[:, 6], tabular.garage.astype(float))  # not standardised
    assert pre.scaling()["garage"] == [0.0, 1.0]


def test_feature_order_declared_scaling_and_no_standardisation(tabular: Tabular) -> None:
    pre = preprocessor(tabular, features=["garage", "x"], standardise="none",
                       scaling={"x": {"mean": 40.0, "std": 5.0}}, missing="constant",
                       fill_value=30.0)
    batch = decoded(tabular, slice(0, 80))
    X = pre.transform(batch)
    assert pre.input_names == ["garage", "x"]
    expected_x = (np.where(np.isnan(tabular.x[:80]), 30.0, tabular.x[:80]) - 40.0) / 5.0
    np.testing.assert_allclose(X[:, 1], expected_x, rtol=1e-12)
    np.testing.assert_array_equal(X[:, 0], tabular.garage[:80].astype(float))
    raw = preprocessor(tabular, features=["x"], standardise="none", missing="constant")
    np.testing.assert_array_equal(raw.transform(batch)[:, 0],
                                  np.where(np.isnan(tabular.x[:80]), 0.0, tabular.x[:80]))


def test_unseen_categories_go_to_other_or_to_no_column(tabular: Tabular) -> None:
    city = np.array(["north", "rare1", "mars", "west"])
    x, garage = np.array([50.0, 50.0, 50.0, 50.0]), np.zeros(4, dtype=bool)
    decoder = SchemaDecoder.from_profile(load_schema(tabular.schema),
                                         read_profile(tabular.artifacts))
    batch = decoder.decode_batch(events(x, city, garage), topic="t", partition=0,
                                 offsets=[0, 1, 2, 3])
    assert batch.quality_counts() == {"city": {"unseen_category": 1}}
    to_other = preprocessor(tabular, features=["city"]).transform(batch)
    to_nothing = preprocessor(tabular, features=["city"],
                              unseen_category="zeros").transform(batch)
    np.testing.assert_array_equal(to_other, hand_one_hot(city, unseen_to_other=True))
    np.testing.assert_array_equal(to_nothing, hand_one_hot(city, unseen_to_other=False))


def test_missing_categories_are_imputed_with_the_mode_or_left_empty(tabular: Tabular) -> None:
    vocabulary = read_profile(tabular.artifacts).categorical["city"].vocabulary()
    batch = InputBatch(numeric=np.empty((2, 0)), numeric_names=[],
                       categorical=[[vocabulary.missing_code], [1]], categorical_names=["city"])
    imputed = preprocessor(tabular, features=["city"]).transform(batch)
    empty = preprocessor(tabular, features=["city"], missing="constant").transform(batch)
    assert imputed.tolist() == [[1, 0, 0, 0, 0], [0, 1, 0, 0, 0]]  # north: most frequent
    assert empty.tolist() == [[0, 0, 0, 0, 0], [0, 1, 0, 0, 0]]


def test_refuse_needs_required_features_and_refuses_a_gap_that_gets_through(
        tabular: Tabular) -> None:
    with pytest.raises(ModelLoadError) as info:
        preprocessor(tabular, missing="refuse")
    assert str(info.value) == (f"run.yaml: model.preprocessing.missing: refuse needs required "
                               f"features, but field 'x' is optional in the schema "
                               f"{tabular.schema}; make it required or impute it")
    pre = preprocessor(tabular, features=["city", "garage"], missing="refuse")
    vocabulary = read_profile(tabular.artifacts).categorical["city"].vocabulary()
    gap = InputBatch(numeric=[[np.nan]], numeric_names=["garage"],
                     categorical=[[0]], categorical_names=["city"])
    with pytest.raises(ModelError, match="field 'garage' has no value in 1 rows"):
        pre.transform(gap)
    gap = InputBatch(numeric=[[1.0]], numeric_names=["garage"],
                     categorical=[[vocabulary.missing_code]], categorical_names=["city"])
    with pytest.raises(ModelError, match="field 'city' has no value in 1 rows"):
        pre.transform(gap)


def test_columns_are_found_by_name_in_any_order(tabular: Tabular) -> None:
    pre = preprocessor(tabular, features=["x", "garage"])
    forward = InputBatch(numeric=[[60.0, 1.0]], numeric_names=["x", "garage"])
    backward = InputBatch(numeric=[[1.0, 60.0]], numeric_names=["garage", "x"])
    np.testing.assert_array_equal(pre.transform(forward), pre.transform(backward))
    with pytest.raises(ModelError, match="the batch has no numeric column 'x'"):
        pre.transform(InputBatch(numeric=[[1.0]], numeric_names=["garage"]))


def test_codes_outside_the_vocabulary_are_a_model_error(tabular: Tabular) -> None:
    pre = preprocessor(tabular, features=["city"])
    batch = InputBatch(numeric=np.empty((1, 0)), numeric_names=[], categorical=[[99]],
                       categorical_names=["city"])
    with pytest.raises(ModelError, match=r"outside the profile's vocabulary \[0, 7\)"):
        pre.transform(batch)


@pytest.mark.parametrize(("config", "message"), [
    ({"features": ["x", "colour"]}, "run.yaml: model.preprocessing.features[1]: field 'colour' "
     "is not in the schema {schema} (fields: x, city, garage)"),
    ({"scaling": {"colour": {"mean": 0.0, "std": 1.0}}}, "run.yaml: "
     "model.preprocessing.scaling.colour: field 'colour' is not in the schema {schema} "
     "(fields: x, city, garage)"),
    ({"scaling": {"city": {"mean": 0.0, "std": 1.0}}}, "run.yaml: "
     "model.preprocessing.scaling.city: field 'city' is categorical; only numeric fields are "
     "scaled"),
])
def test_preprocessing_that_does_not_fit_the_schema_names_the_field(
        tabular: Tabular, config: dict[str, Any], message: str) -> None:
    with pytest.raises(ModelLoadError) as info:
        preprocessor(tabular, **config)
    assert str(info.value) == message.format(schema=tabular.schema)


def test_a_profile_without_the_field_is_named(tabular: Tabular) -> None:
    profile = read_profile(tabular.artifacts)
    del profile.mean["x"]
    profile.categorical.pop("city")
    schema = load_schema(tabular.schema)
    with pytest.raises(ModelLoadError, match=r"^p.json: model.preprocessing.standardise: the "
                       "profile has no mean/std of field 'x'"):
        Preprocessor(build_config({}, PreprocessingConfig), schema, profile, profile_path="p.json")
    with pytest.raises(ModelLoadError, match="the profile has no categories of field 'city'"):
        Preprocessor(build_config({"features": ["city"]}, PreprocessingConfig), schema, profile,
                     profile_path="p.json")


def test_vector_fields_become_blocks_of_columns() -> None:
    events = build_config({"fields": [{"name": "e", "type": "vector", "length": 2},
                               {"name": "im", "type": "image", "shape": [1, 2]},
                               {"name": "o", "type": "vector", "length": 2, "optional": True}]},
                   EventSchema)
    pre = Preprocessor(build_config({"features": ["im", "e"], "standardise": "none"},
                                    PreprocessingConfig), events, None)
    assert pre.input_names == ["im[0]", "im[1]", "e[0]", "e[1]"]
    batch = InputBatch(numeric=np.empty((2, 0)), numeric_names=[],
                  vectors={"e": [[1, 2], [3, 4]], "im": [[5, 6], [7, 8]]})
    assert pre.transform(batch).tolist() == [[5, 6, 1, 2], [7, 8, 3, 4]]
    with pytest.raises(ModelError, match="no \\(2, 2\\) block of vector field 'im'"):
        pre.transform(InputBatch(numeric=np.empty((2, 0)), numeric_names=[],
                            vectors={"e": [[1, 2], [3, 4]]}))
    with pytest.raises(ModelLoadError, match="features\\[0\\]: field 'o' is an optional vector "
                       "field"):
        Preprocessor(build_config({"features": ["o"]}, PreprocessingConfig), events, None)
