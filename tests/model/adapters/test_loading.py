"""``load_model_adapter``: each kind from its config, with the profile and schema copy that
``driftline profile`` wrote (checked to belong together), relative paths from ``base_dir``,
and one line naming the file and the key when something is missing."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import torch

from driftline.configs import build_config
from driftline.dataloader.schema import load_schema
from driftline.executor.config import RunConfig
from driftline.model.adapters.base import ModelLoadError
from driftline.model.adapters.loading import load_model_adapter
from driftline.model.adapters.served import ServedElsewhereAdapter
from driftline.model.adapters.torch_models import TorchModelAdapter
from driftline.model.profile_files import SCHEMA_FILE
from tests.model.adapters.factories import SmallNet, save_scripted
from tests.model.tabular_data import Tabular


def model_config(section: dict[str, Any]) -> Any:
    return build_config({"model": section}, RunConfig).model


def copy_artifacts(tabular: Tabular, tmp_path: Path) -> Path:
    return Path(shutil.copytree(tabular.artifacts, tmp_path / "artifacts"))


def test_each_kind_loads_with_paths_relative_to_the_base_dir(tabular: Tabular,
                                                             tmp_path: Path) -> None:
    copy_artifacts(tabular, tmp_path)
    torch.save(SmallNet().state_dict(), tmp_path / "w.pt")
    pytorch = load_model_adapter(model_config({
        "kind": "pytorch", "entry_point": "tests.model.adapters.factories:build_small_net",
        "state_dict": "w.pt"}), base_dir=tmp_path)
    assert isinstance(pytorch, TorchModelAdapter) and pytorch.class_names == ["low", "mid",
                                                                              "high"]
    assert len(pytorch.input_names) == 7 and pytorch.profile.n_reference == 2000
    save_scripted(SmallNet(), tmp_path / "m.ts")
    script = load_model_adapter(model_config({"kind": "torchscript", "path": "m.ts"}),
                                base_dir=tmp_path)
    assert script.kind == "torchscript"


def test_the_none_kind_needs_outputs_in_the_schema(tabular: Tabular, tmp_path: Path) -> None:
    artifacts = copy_artifacts(tabular, tmp_path)
    with pytest.raises(ModelLoadError) as info:
        load_model_adapter(model_config({"kind": "none"}), base_dir=tmp_path)
    assert str(info.value).startswith(f"{artifacts / SCHEMA_FILE}: outputs: model kind none "
                                      "reads the prediction or the score")
    schema = tmp_path / "with_outputs.yaml"
    schema.write_text(tabular.schema.read_text().replace(
        "  label: {path: label}", "  label: {path: label}\n  prediction: {path: served}"))
    adapter = load_model_adapter(model_config({"kind": "none"}), schema=load_schema(schema),
                                 schema_path=schema, base_dir=tmp_path)
    assert isinstance(adapter, ServedElsewhereAdapter) and adapter.has_prediction


def test_missing_or_mismatched_profile_and_schema_are_named(tabular: Tabular,
                                                            tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError) as info:
        load_model_adapter(model_config({"kind": "none", "artifacts_dir": "nowhere"}),
                           base_dir=tmp_path, source="run.yaml")
    assert str(info.value) == (f"run.yaml: model.artifacts_dir: {tmp_path}/nowhere/"
                               "reference_profile.json: cannot read: No such file or directory "
                               "(driftline profile --output-dir writes it)")
    artifacts = copy_artifacts(tabular, tmp_path)
    (artifacts / SCHEMA_FILE).write_text(tabular.schema.read_text() + "# edited\n")
    with pytest.raises(ModelLoadError) as info:
        load_model_adapter(model_config({"kind": "torchscript", "path": "m.ts"}),
                           base_dir=tmp_path)
    assert str(info.value) == (f"{artifacts / SCHEMA_FILE}: schema: is not the schema the "
                               f"profile in {artifacts}/reference_profile.json was built from "
                               "(rebuild it with driftline profile)")
    (artifacts / SCHEMA_FILE).write_text("fields: []\n")
    with pytest.raises(ModelLoadError) as info:
        load_model_adapter(model_config({"kind": "torchscript", "path": "m.ts"}),
                           base_dir=tmp_path)
    assert str(info.value) == (f"{artifacts / SCHEMA_FILE}: fields: List should have at least 1 "
                               "item after validation, not 0, got list []")


def test_classes_come_from_the_schema_or_must_agree_with_it(tabular: Tabular,
                                                            tmp_path: Path) -> None:
    copy_artifacts(tabular, tmp_path)
    with pytest.raises(ModelLoadError) as info:
        load_model_adapter(model_config({"kind": "torchscript", "path": "m.ts",
                                         "classes": ["a", "b", "c"]}),
                           base_dir=tmp_path, source="run.yaml")
    assert str(info.value) == ("run.yaml: model.classes: ['a', 'b', 'c'] differ from the "
                               "schema's outputs.classes ['low', 'mid', 'high'] (events' labels "
                               "and predictions index those)")
    unlabelled = tmp_path / "unlabelled.yaml"
    unlabelled.write_text("fields:\n  - {name: x, type: numeric}\n")
    with pytest.raises(ModelLoadError, match=rf"^run.yaml: model.classes: required: the schema "
                       rf"{unlabelled} has no outputs.classes$"):
        load_model_adapter(model_config({"kind": "torchscript", "path": "m.ts"}),
                           schema=load_schema(unlabelled), schema_path=unlabelled,
                           base_dir=tmp_path, source="run.yaml")
