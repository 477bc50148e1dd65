"""The run config's ``model:`` section: a union discriminated by ``kind`` whose default keeps
the existing ``model: {artifacts_dir: ...}`` configs valid; each kind's YAML parses; the JSON
Schema (``configs/run.schema.json``) and the models reject the same bad sections, with errors
at ``model.<key>`` (not pydantic's ``model.<kind>.<key>``)."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest
import yaml

from driftline.configs import CONFIG_DIR, ConfigError, build_config
from driftline.configs.schema import schema_path
from driftline.executor.config import RunConfig, load_run_config
from driftline.model.adapters.config import (
    PyTorchModelConfig,
    ServedElsewhereConfig,
    TorchScriptModelConfig,
    TrainedModelConfig,
)

EXAMPLES = {
    "driftline": ("model:\n  artifacts_dir: artifacts\n", TrainedModelConfig),
    "torchscript": ("""\
model:
  kind: torchscript
  artifacts_dir: artifacts-mine
  path: models/classifier.ts
  returns: [logits, embedding]
  preprocessing:
    features: [age, region, has_garage]
    standardise: profile
    scaling: {age: {mean: 40, std: 12.5}}
    unseen_category: zeros
    missing: constant
    fill_value: 0
""", TorchScriptModelConfig),
    "pytorch": ("""\
model:
  kind: pytorch
  artifacts_dir: artifacts-mine
  entry_point: my_models.tabular:build_net
  factory_kwargs: {hidden: [32, 16]}
  state_dict: models/weights.pt
  classes: [low, high]
  dtype: float64
""", PyTorchModelConfig),
    "none": ("model:\n  kind: none\n  artifacts_dir: artifacts-mine\n  score: "
             "positive_probability\n", ServedElsewhereConfig),
}


def validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(json.loads(schema_path("run").read_text()))


@pytest.mark.parametrize("kind", sorted(EXAMPLES))
def test_each_kinds_yaml_parses_and_passes_the_json_schema(kind: str) -> None:
    text, cls = EXAMPLES[kind]
    data = yaml.safe_load(text)
    assert list(validator().iter_errors(data)) == []
    model = build_config(data, RunConfig).model
    assert isinstance(model, cls) and model.kind == kind


def test_existing_configs_still_mean_the_trained_model() -> None:
    for name in ("demo.yaml", "kafka.yaml"):
        model = load_run_config(CONFIG_DIR / name, environ={}).model
        assert isinstance(model, TrainedModelConfig)
        assert (model.kind, model.artifacts_dir) == ("driftline", "artifacts")
    assert build_config({}, RunConfig).model == TrainedModelConfig()
    torch_model = build_config(yaml.safe_load(EXAMPLES["torchscript"][0]), RunConfig).model
    assert torch_model.preprocessing.scaling["age"].std == 12.5
    assert torch_model.batch_size == 8192 and torch_model.dtype == "auto"


BAD: list[tuple[dict[str, Any], str]] = [
    ({"kind": "tensorflow"}, "model.kind: unknown model kind 'tensorflow' (kinds: driftline, "
     "none, pytorch, torchscript)"),
    ({"kind": "torchscript"}, "model.path: required key is missing"),
    ({"path": "m.ts"}, "model.path: unknown key for kind driftline (a key of kind torchscript; "
     "allowed: artifacts_dir, kind)"),
    ({"kind": "torchscript", "path": "m.ts", "retuns": ["logits"]}, "model.retuns: unknown key "
     "for kind torchscript (did you mean 'returns'?"),
    ({"kind": "torchscript", "path": "m.ts", "returns": ["score"]}, "model.returns: must name "
     "exactly one of logits, probabilities, got ['score']"),
    ({"kind": "torchscript", "path": "m.ts", "returns": ["logits", "softmax"]},
     "model.returns[1]: "),
    ({"kind": "torchscript", "path": "m.ts", "batch_size": 0}, "model.batch_size: must be >= 1"),
    ({"kind": "torchscript", "path": "m.ts", "preprocessing": {"missing": "drop"}},
     "model.preprocessing.missing: "),
    ({"kind": "torchscript", "path": "m.ts", "preprocessing": {"scaling": {
        "age": {"mean": 0, "std": 0}}}}, "model.preprocessing.scaling.age.std: must be > 0.0"),
    ({"kind": "pytorch", "entry_point": "tabular.build_net", "state_dict": "w.pt"},
     "model.entry_point: must be 'package.module:factory' or 'path/to/file.py:factory', got "
     "'tabular.build_net'"),
    ({"kind": "pytorch", "entry_point": "nets:build"}, "model.state_dict: required key is "
     "missing"),
    ({"kind": "none", "score": "logit"}, "model.score: "),
    ({"kind": "torchscript", "path": "m.ts", "classes": ["a"]}, "model.classes: "),
    ({"kind": "torchscript", "path": "m.ts", "returns": ["logits", "logits"]},
     "model.returns[1]: 'logits' is named twice"),
    ({"kind": "torchscript", "path": "m.ts", "returns": ["logits", "probabilities"]},
     "model.returns: must name exactly one of logits, probabilities"),
    ({"kind": "torchscript", "path": "m.ts", "classes": ["a", "a"]},
     "model.classes: must not repeat a class"),
    ({"kind": "torchscript", "path": "m.ts", "preprocessing": {"features": ["a", "b", "a"]}},
     "model.preprocessing.features[2]: 'a' is already features[0]"),
]


@pytest.mark.parametrize(("section", "message"), BAD)
def test_schema_and_model_reject_the_same_bad_sections(section: dict[str, Any],
                                                       message: str) -> None:
    assert list(validator().iter_errors({"model": section})), "the JSON Schema accepted it"
    with pytest.raises(ConfigError) as info:
        build_config({"model": section}, RunConfig, source="run.yaml")
    assert str(info.value).startswith(f"run.yaml: {message}"), str(info.value)


@pytest.mark.parametrize(("section", "message"), [
    ({"kind": "torchscript", "path": "m.ts", "preprocessing": {
        "features": ["a"], "scaling": {"b": {"mean": 0, "std": 1}}}},
     "model.preprocessing.scaling.b: 'b' is not in features"),
])
def test_cross_key_rules_are_the_models(section: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        build_config({"model": section}, RunConfig, source="run.yaml")
    assert str(info.value) == f"run.yaml: {message}"
