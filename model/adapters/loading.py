"""Loading the adapter a run config's ``model:`` section names.

:func:`load_model_adapter` reads what the kind needs and returns a ready
:class:`~model.adapters.base.ModelAdapter`, or raises one :class:`ModelLoadError` whose text
is one line naming the file and the config key. Every kind has an ``artifacts_dir``: the
``driftline`` kind loads ``model.pt`` and ``reference_profile.json`` from it; the others read
the profile (``reference_profile.json``) and, unless a schema is given, its copy of the event
schema (``event_schema.yaml``), both written by ``driftline profile``. Relative paths are taken
from ``base_dir``. torch is imported only for the torch kinds.

Example
-------
>>> import tempfile
>>> from driftline.configs import build_config
>>> from driftline.dataloader.insurance import DATA_DIR
>>> from driftline.model.adapters.config import TorchScriptModelConfig
>>> from driftline.model.profile_builder import build_profile
>>> from driftline.model.profile_files import write_profile
>>> profile, _ = build_profile(DATA_DIR / "schema.yaml", DATA_DIR / "reference.csv.gz")
>>> directory = tempfile.TemporaryDirectory()
>>> _ = write_profile(directory.name, profile, DATA_DIR / "schema.yaml")
>>> config = build_config({"kind": "torchscript", "artifacts_dir": directory.name,
...     "path": "model.ts", "preprocessing": {"features": ["age", "colour"]}},
...     TorchScriptModelConfig)
>>> try:
...     load_model_adapter(config, source="run.yaml")
... except ModelLoadError as exc:
...     print(exc)  # doctest: +ELLIPSIS
run.yaml: model.preprocessing.features[1]: field 'colour' is not in the schema ...
>>> directory.cleanup()
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from driftline.configs import ConfigError
from driftline.dataloader.schema import EventSchema, load_schema, schema_sha256
from driftline.model.adapters.base import ModelAdapter, ModelLoadError
from driftline.model.adapters.config import (
    PyTorchModelConfig,
    ServedElsewhereConfig,
    TorchModelConfig,
    TorchScriptModelConfig,
    TrainedModelConfig,
)
from driftline.model.adapters.preprocessing import Preprocessor
from driftline.model.profile_files import PROFILE_FILE, SCHEMA_FILE, read_profile

__all__ = ["load_model_adapter", "load_reference", "resolve"]


def resolve(path: str | Path, base_dir: str | Path) -> Path:
    """``path``, relative to ``base_dir`` unless absolute."""
    path = Path(path)
    return path if path.is_absolute() else Path(base_dir) / path


def load_model_adapter(config: Any, *, schema: EventSchema | None = None,
                       schema_path: str | Path | None = None, profile: Any = None,
                       base_dir: str | Path = ".", source: str | Path | None = None,
                       ) -> ModelAdapter:
    """The adapter of ``config`` (a :data:`~model.adapters.config.ModelConfig` member).

    Parameters
    ----------
    config : ModelConfig
        The ``model:`` section.
    schema : EventSchema, optional
        The event schema (default: ``schema_path``, else ``event_schema.yaml`` in
        ``artifacts_dir``); not used by the ``driftline`` kind.
    schema_path : str or Path, optional
        Where ``schema`` comes from (read when ``schema`` is not given, and then checked to be
        the file the profile was built from, by its SHA-256; named in messages).
    profile : ReferenceProfile, optional
        The reference profile (default: ``reference_profile.json`` in ``artifacts_dir``).
    base_dir : str or Path
        Directory relative paths of the config are taken from.
    source : str or Path, optional
        The config file, named in messages about its keys.
    """
    artifacts = resolve(config.artifacts_dir, base_dir)
    if isinstance(config, TrainedModelConfig):
        from driftline.model.adapters.trained import load_trained_adapter

        return load_trained_adapter(artifacts)
    schema, schema_path, profile = load_reference(config, schema=schema,
                                                  schema_path=schema_path, profile=profile,
                                                  base_dir=base_dir, source=source)
    if isinstance(config, ServedElsewhereConfig):
        from driftline.model.adapters.served import served_elsewhere_adapter

        return served_elsewhere_adapter(schema, config.score, profile, schema_path)
    return _load_torch(config, schema, schema_path, profile, artifacts, base_dir, source)


def load_reference(config: Any, *, schema: EventSchema | None = None,
                   schema_path: str | Path | None = None, profile: Any = None,
                   base_dir: str | Path = ".", source: str | Path | None = None,
                   ) -> tuple[EventSchema, Path | None, Any]:
    """``(schema, schema_path, profile)`` of a non-``driftline`` kind: the given ones, else
    those ``driftline profile`` wrote into ``artifacts_dir`` (checked to belong together)."""
    artifacts = resolve(config.artifacts_dir, base_dir)
    if profile is None:
        try:
            profile = read_profile(artifacts)
        except ValueError as exc:
            raise ModelLoadError(source, "model.artifacts_dir", f"{exc} (driftline profile "
                                 "--output-dir writes it)") from None
    if schema is None:
        schema_path = Path(schema_path) if schema_path is not None else artifacts / SCHEMA_FILE
        try:
            schema = load_schema(schema_path)
        except ConfigError as exc:
            raise ModelLoadError(None, "", str(exc).splitlines()[0]) from None
        if profile.schema_sha256 and schema_sha256(schema_path) != profile.schema_sha256:
            raise ModelLoadError(schema_path, "schema", f"is not the schema the profile in "
                                 f"{artifacts / PROFILE_FILE} was built from (rebuild it with "
                                 "driftline profile)")
    return schema, None if schema_path is None else Path(schema_path), profile


def _load_torch(config: TorchModelConfig, schema: EventSchema, schema_path: Any, profile: Any,
                artifacts: Path, base_dir: str | Path, source: Any) -> ModelAdapter:
    from driftline.model.adapters.entry_points import build_module, load_state_dict_file
    from driftline.model.adapters.torch_models import (
        TorchModelAdapter,
        check_metadata,
        load_torchscript_module,
    )
    from driftline.model.profile_builder import file_sha256

    classes = _classes(config, schema, schema_path, source)
    preprocessor = Preprocessor(config.preprocessing, schema, profile, source=source,
                                schema_path=schema_path,
                                profile_path=artifacts / PROFILE_FILE)
    metadata = None
    if isinstance(config, TorchScriptModelConfig):
        model_path = resolve(config.path, base_dir)
        module, metadata = load_torchscript_module(model_path)
    else:
        assert isinstance(config, PyTorchModelConfig)
        model_path = resolve(config.state_dict, base_dir)
        module = build_module(config.entry_point, config.factory_kwargs, base_dir, source)
        load_state_dict_file(model_path, module, config.entry_point)
    adapter = TorchModelAdapter(config.kind, module, preprocessor, classes, config.returns,
                                config.batch_size, config.dtype, file_sha256(model_path),
                                profile)
    if metadata is not None:
        check_metadata(metadata, adapter, model_path)
    adapter.probe(model_path)
    return adapter


def _classes(config: TorchModelConfig, schema: EventSchema, schema_path: Any,
             source: Any) -> list[str]:
    declared = list(schema.outputs.classes or [])
    if config.classes is None:
        if not declared:
            where = f" {schema_path}" if schema_path else ""
            raise ModelLoadError(source, "model.classes", f"required: the schema{where} has no "
                                 "outputs.classes")
        return declared
    if declared and list(config.classes) != declared:
        raise ModelLoadError(source, "model.classes", f"{list(config.classes)} differ from the "
                             f"schema's outputs.classes {declared} (events' labels and "
                             "predictions index those)")
    return list(config.classes)
