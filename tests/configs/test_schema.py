"""JSON Schema export: the committed schemas are current, every shipped YAML names its schema and
passes both it (checked by the independent ``jsonschema`` validator) and the pydantic models, and
the schema rejects what the models reject."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from driftline.configs import CONFIG_DIR, ConfigError, build_config, load_config
from driftline.configs.schema import (
    SCHEMAS,
    json_schema,
    kind_of,
    schema_path,
    stale_schemas,
    write_schemas,
)
from driftline.utils.cli import main

SHIPPED = sorted(CONFIG_DIR.glob("*.yaml"))


def validator(kind: str) -> jsonschema.Draft202012Validator:
    schema = json.loads(schema_path(kind).read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def test_committed_schemas_are_current() -> None:
    stale = stale_schemas()
    assert not stale, f"stale: {stale}; run `driftline config-schema --write`"


def test_configs_are_shipped() -> None:
    assert {p.name for p in SHIPPED} >= {"demo.yaml", "kafka.yaml", "train.yaml",
                                          "evaluate.yaml", "evaluate_small.yaml"}


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_shipped_yaml_passes_its_schema_and_its_model(path: Path) -> None:
    kind = kind_of(path)
    assert kind is not None, f"{path.name}: first line must be # yaml-language-server: $schema=..."
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    errors = [e.message for e in validator(kind).iter_errors(data)]
    assert errors == []
    assert isinstance(load_config(path, SCHEMAS[kind]), SCHEMAS[kind])


BAD_CONFIGS: list[tuple[str, dict[str, Any], str]] = [
    ("run", {"sources": {}}, "sources"),
    ("run", {"batch": {"max_rows": 0}}, "batch.max_rows"),
    ("run", {"batch": {"worker_process": "yes"}}, "batch.worker_process"),
    ("run", {"detectors": {"streams": {"features": [
        {"detector": "page_hinkley", "target_arl0": 1}]}}},
     "detectors.streams.features[0].target_arl0"),
    ("run", {"detectors": {"streams": {"errors": [{"detector": "kswin"}]}}},
     "detectors.streams.errors[0].detector"),
    ("run", {"source": {"topic": "bad topic!"}}, "source.topic"),
    ("run", {"source": {"topic": ".."}}, "source.topic"),
    ("run", {"source": {"labels_topic": ""}}, "source.labels_topic"),
    ("run", {"outputs": {"predictions_topic": "p" * 250}}, "outputs.predictions_topic"),
    ("run", {"dead_letter": {"topic_suffix": ""}}, "dead_letter.topic_suffix"),
    ("run", {"source": {"bootstrap_servers": ""}}, "source.bootstrap_servers"),
    ("run", {"source": {"bootstrap_servers": "broker"}}, "source.bootstrap_servers"),
    ("run", {"metrics": {"port": 65536}}, "metrics.port"),
    ("train", {"network": {"hidden_sizes": []}}, "network.hidden_sizes"),
    ("train", {"network": {"hidden_sizes": [8, 0]}}, "network.hidden_sizes[1]"),
    ("train", {"optimiser": {"learning_rate": 0}}, "optimiser.learning_rate"),
    ("train", {"profile": {"quantile_levels": [0.5, 1.5]}}, "profile.quantile_levels[1]"),
    ("evaluate", {"streams": [], "detectors": [{"name": "x", "calibrate": False}]}, "streams"),
    ("evaluate", {"streams": [{"name": "s", "kind": "sine"}],
                  "detectors": [{"name": "x", "calibrate": False}]}, "streams[0].kind"),
]


@pytest.mark.parametrize(("kind", "data", "key"), BAD_CONFIGS)
def test_schema_and_model_reject_the_same_bad_values(kind: str, data: dict[str, Any],
                                                     key: str) -> None:
    assert list(validator(kind).iter_errors(data)), "the JSON Schema accepted it"
    with pytest.raises(ConfigError, match=r"^bad\.yaml: ") as info:
        build_config(data, SCHEMAS[kind], source="bad.yaml")
    assert f"bad.yaml: {key}: " in str(info.value)


def test_cli_prints_writes_and_checks_schemas(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["config-schema", "train"]) == 0
    assert json.loads(capsys.readouterr().out) == json_schema("train")
    assert main(["config-schema", "--check", "--dir", str(tmp_path)]) == 1
    assert "train.schema.json is stale" in capsys.readouterr().err
    assert main(["config-schema", "--write", "--dir", str(tmp_path)]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        f"{kind}.schema.json" for kind in SCHEMAS)
    assert main(["config-schema", "--check", "--dir", str(tmp_path)]) == 0
    run = tmp_path / "run.schema.json"
    run.write_text(run.read_text().replace('"minimum": 1', '"minimum": 2', 1))
    assert main(["config-schema", "--check", "--dir", str(tmp_path)]) == 1
    assert stale_schemas(tmp_path) == [run]
    assert write_schemas(tmp_path) and stale_schemas(tmp_path) == []
    capsys.readouterr()
    assert main(["config-schema"]) == 2
    assert "exactly one of" in capsys.readouterr().err


def test_unknown_kind_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown config kind 'serve'"):
        json_schema("serve")
