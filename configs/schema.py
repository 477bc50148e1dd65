"""JSON Schema of every config kind, for editors and independent validators.

The schemas are generated from the pydantic models (the single declaration of each config) and
committed beside the YAML files as ``configs/<kind>.schema.json``; every YAML file in
``configs/`` names its schema on its first line, which the YAML language server (VS Code,
Neovim, JetBrains, ...) reads to complete and check the file::

    # yaml-language-server: $schema=run.schema.json

``driftline config-schema --write`` regenerates them; a test fails when a committed one is stale.

Example
-------
>>> schema = json_schema("run")
>>> schema["properties"]["batch"]["$ref"]
'#/$defs/BatchConfig'
>>> schema["$defs"]["BatchConfig"]["properties"]["max_rows"]["minimum"]
1
>>> kind_of(CONFIG_DIR / "kafka.yaml")
'run'
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from driftline.configs import CONFIG_DIR, ConfigModel
from driftline.dataloader.schema import EventSchema
from driftline.evaluation.config import EvaluateConfig
from driftline.evaluation.failing_loudly_config import FailingLoudlyConfig
from driftline.evaluation.soak_config import SoakConfig
from driftline.executor.config import RunConfig
from driftline.model.config import TrainConfig

__all__ = ["DIALECT", "SCHEMAS", "json_schema", "kind_of", "schema_path", "schema_text",
           "stale_schemas", "write_schemas"]

SCHEMAS: dict[str, type[ConfigModel]] = {
    "run": RunConfig,
    "train": TrainConfig,
    "evaluate": EvaluateConfig,
    "evaluate_failing_loudly": FailingLoudlyConfig,
    "evaluate_soak": SoakConfig,
    "event": EventSchema,
}
DIALECT = "https://json-schema.org/draft/2020-12/schema"
_MODELINE = re.compile(r"#\s*yaml-language-server:\s*\$schema=(\S+)")


def json_schema(kind: str) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of config ``kind`` (a key of :data:`SCHEMAS`)."""
    try:
        model = SCHEMAS[kind]
    except KeyError:
        raise ValueError(f"unknown config kind {kind!r}; kinds are {sorted(SCHEMAS)}") from None
    return {"$schema": DIALECT, **model.model_json_schema()}


def schema_text(kind: str) -> str:
    """:func:`json_schema` as the committed file's text."""
    return json.dumps(json_schema(kind), indent=2, ensure_ascii=False) + "\n"


def schema_path(kind: str, directory: str | Path = CONFIG_DIR) -> Path:
    """Where the schema of ``kind`` lives in ``directory``: ``<kind>.schema.json``."""
    return Path(directory) / f"{kind}.schema.json"


def write_schemas(directory: str | Path = CONFIG_DIR) -> list[Path]:
    """Write the schema of every kind into ``directory``; return the paths written."""
    paths = []
    for kind in SCHEMAS:
        path = schema_path(kind, directory)
        path.write_text(schema_text(kind), encoding="utf-8")
        paths.append(path)
    return paths


def stale_schemas(directory: str | Path = CONFIG_DIR) -> list[Path]:
    """The schema files in ``directory`` that are missing or differ from the models."""
    stale = []
    for kind in SCHEMAS:
        path = schema_path(kind, directory)
        if not path.is_file() or path.read_text(encoding="utf-8") != schema_text(kind):
            stale.append(path)
    return stale


def kind_of(yaml_path: str | Path) -> str | None:
    """The config kind whose schema the first line of ``yaml_path`` names, or None."""
    with open(yaml_path, encoding="utf-8") as handle:
        match = _MODELINE.fullmatch(handle.readline().strip())
    if match is None:
        return None
    return next((kind for kind in SCHEMAS if schema_path(kind, "").name == match.group(1)), None)
