"""Replaying a data file: order, drift at the change point, predictions of a served model,
labels-topic messages, and one-line errors before anything is sent."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest
import yaml

from driftline.configs import ConfigError, build_config
from driftline.dataloader.replay_config import FileReplayConfig
from driftline.dataloader.schema import load_schema
from driftline.executor.config import load_run_config
from driftline.executor.file_replay import FileReplay
from driftline.executor.local_runner import build_source
from driftline.executor.schema_decoder import SchemaDecoder
from driftline.model.adapters.loading import load_model_adapter, load_reference
from driftline.model.profile_builder import build_profile
from driftline.model.profile_files import write_profile
from driftline.model.train_classifier import TrainingOptions, train_torchscript

ROOT = Path(__file__).resolve().parents[2]
FLARE = ROOT / "configs" / "examples" / "solar_flare"
N_ROWS = 300


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    schema = tmp_path / "schema.yaml"
    schema.write_text(yaml.safe_dump({
        "event_id": {"path": "meta.id"},
        "event_time": {"path": "meta.at", "unit": "s"},
        "fields": [{"name": "x", "path": "f.x", "type": "numeric"},
                   {"name": "c", "path": "f.c", "type": "categorical", "optional": True}],
        "outputs": {"classes": ["no", "yes"], "label": {"path": "y"}}}))
    rows = tmp_path / "rows.csv"
    rng = np.random.default_rng(3)
    lines = [f"{i}.5,{'ab'[i % 2]},{['no', 'yes'][int(rng.integers(2))]}" for i in range(N_ROWS)]
    rows.write_text("x,c,label\n" + "\n".join(lines) + "\n")
    return {"schema": schema, "rows": rows, "dir": tmp_path}


def _config(files: dict[str, Path], **changes: Any) -> FileReplayConfig:
    return build_config({"path": str(files["rows"]), "schema": str(files["schema"]),
                         "start_time": 100.0, **changes}, FileReplayConfig, source="run.yaml")


def _decoded(replay: FileReplay, schema_path: Path | None = None) -> Any:
    schema = load_schema(schema_path or replay.config.schema_path)
    values = [event.value for event in replay.events()]
    return SchemaDecoder(schema).decode_batch(values, topic="t", partition=0,
                                              offsets=list(range(len(values))))


def test_file_order_keeps_every_row_with_ids_times_and_periods(files: dict[str, Path]) -> None:
    replay = FileReplay(_config(files, id_prefix="r", interval_s=2.0, period_rows=100))
    events = list(replay.events())
    assert len(replay) == len(events) == N_ROWS
    batch = _decoded(replay)
    assert batch.numeric[:, 0].tolist() == [i + 0.5 for i in range(N_ROWS)]
    assert batch.event_ids == [f"r-{i:07d}" for i in range(N_ROWS)]
    assert batch.event_time.tolist() == [100.0 + 2.0 * i for i in range(N_ROWS)]
    assert [e.period for e in events[99:101]] == ["rows 0-99", "rows 100-199"]
    assert {e.timestamp for e in events[:2]} == {100.0, 102.0}


def test_shuffle_is_a_seeded_permutation(files: dict[str, Path]) -> None:
    def order(seed: int) -> list[float]:
        replay = FileReplay(_config(files, order="shuffle", seed=seed, chunk_rows=64))
        return _decoded(replay).numeric[:, 0].tolist()

    first, again, other = order(1), order(1), order(2)
    assert first == again != other
    assert sorted(first) == [i + 0.5 for i in range(N_ROWS)] and first != sorted(first)


def test_drift_starts_at_the_change_point_with_the_declared_effect(
        files: dict[str, Path]) -> None:
    drift = {"change_point": 120, "injections": [
        {"kind": "numeric_shift", "field": "x", "scale": 2.0, "shift": 1.0},
        {"kind": "new_category", "field": "c", "category": "zz", "rate": 1.0, "start": 200}]}
    replay = FileReplay(_config(files, drift=drift, chunk_rows=50))
    batch = _decoded(replay)
    x = np.array([i + 0.5 for i in range(N_ROWS)])
    expected = np.where(np.arange(N_ROWS) >= 120, 2.0 * x + 1.0, x)
    assert batch.numeric[:, 0].tolist() == expected.tolist()
    unseen = batch.flagged("unseen_category")[:, 1]
    assert batch.dead_letters == []
    # no categories declared and no profile: the decoder knows none, so check the raw values
    raw = [orjson.loads(e.value)["f"]["c"] for e in replay.events()]
    assert raw[:200] == ["ab"[i % 2] for i in range(200)] and set(raw[200:]) == {"zz"}
    assert not unseen.any()
    assert replay.drift_lines[0] == "numeric_shift on 'x' from event 120: scale=2.0, shift=1.0"


def test_labels_can_be_left_out(files: dict[str, Path]) -> None:
    assert (_decoded(FileReplay(_config(files, labels="none"))).label == -1).all()
    assert (_decoded(FileReplay(_config(files))).label >= 0).all()


def test_a_labels_topic_gets_its_own_messages(files: dict[str, Path]) -> None:
    schema = yaml.safe_load(files["schema"].read_text())
    schema["outputs"]["label"] = {"path": "truth.class", "topic": "t.labels",
                                  "key_path": "ref", "column": "label"}
    files["schema"].write_text(yaml.safe_dump(schema))
    replay = FileReplay(_config(files))
    decoder = SchemaDecoder(load_schema(files["schema"]))
    events = list(replay.events())
    labels = [decoder.decode_label(event.label_value) for event in events]
    truth = [line.rsplit(",", 1)[1] for line in files["rows"].read_text().splitlines()[1:]]
    assert labels == [(e.event_id, ["no", "yes"].index(t)) for e, t in zip(events, truth,
                                                                             strict=True)]
    assert b"truth" not in events[0].value


@pytest.mark.parametrize(("changes", "message"), [
    ({"path": "missing.csv"}, r"run.yaml: source.file.path: .*missing.csv: no such file"),
    ({"drift": {"change_point": 1, "injections": [
        {"kind": "missing", "field": "x", "rate": 0.5}]}},
     r"source.file.drift.injections\[0\].field: 'x' is not optional"),
])
def test_bad_settings_fail_in_one_line_before_anything_is_sent(
        files: dict[str, Path], changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        FileReplay(_config(files, **changes), source="run.yaml")


def test_a_bad_row_anywhere_fails_before_the_first_event(files: dict[str, Path]) -> None:
    text = files["rows"].read_text().splitlines()
    text[250] = "oops,a,no"
    files["rows"].write_text("\n".join(text) + "\n")
    with pytest.raises(ConfigError, match=r"source.file.path: .*'oops' is not a number"):
        FileReplay(_config(files))


def test_a_required_prediction_needs_a_source(files: dict[str, Path]) -> None:
    schema = yaml.safe_load(files["schema"].read_text())
    schema["outputs"]["prediction"] = {"path": "p"}
    files["schema"].write_text(yaml.safe_dump(schema))
    with pytest.raises(ConfigError, match=r"predictions.source: none, but the schema's "
                                          r"outputs.prediction is required"):
        FileReplay(_config(files, predictions={"source": "none"}))
    with pytest.raises(ConfigError, match=r"column 'prediction' of outputs.prediction is missing"):
        FileReplay(_config(files))


@pytest.fixture(scope="module")
def flare_service(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The solar-flare example's stand-in service, trained into a temporary directory."""
    tmp = tmp_path_factory.mktemp("service")
    config = yaml.safe_load((FLARE / "service" / "model.yaml").read_text())
    config["model"].update(artifacts_dir=str(tmp / "artifacts"), path=str(tmp / "model.ts"))
    (tmp / "model.yaml").write_text(yaml.safe_dump(config))
    reference = FLARE / "data" / "reference.csv.gz"
    profile, _ = build_profile(FLARE / "service" / "schema.yaml", reference)
    write_profile(tmp / "artifacts", profile, FLARE / "service" / "schema.yaml")
    train_torchscript(load_run_config(tmp / "model.yaml").model, reference,
                      TrainingOptions(hidden_sizes=(16,), epochs=40))
    return tmp / "model.yaml"


@pytest.mark.parametrize("score", ["positive_probability", "confidence"])
def test_predictions_are_the_served_models_on_the_drifted_events(
        flare_service: Path, score: str) -> None:
    source = load_run_config(FLARE / "run.yaml").source.file
    assert source is not None
    config = source.model_copy(update={
        "path": str(FLARE / "data" / "stream.csv.gz"), "schema_path": str(FLARE / "schema.yaml"),
        "predictions": source.predictions.model_copy(update={"model": str(flare_service),
                                                             "score": score})})
    replay = FileReplay(config)
    batch = _decoded(replay)
    assert len(batch) == 600 and batch.dead_letters == []
    model = load_run_config(flare_service).model
    adapter = load_model_adapter(model)
    service_schema, _, profile = load_reference(model)
    values = [event.value for event in replay.events()]
    served = adapter.predict(SchemaDecoder.from_profile(service_schema, profile).decode_batch(
        values, topic="t", partition=0, offsets=list(range(len(values)))))
    assert batch.prediction.tolist() == served.labels.tolist()
    expected = (served.probabilities[:, 1] if score == "positive_probability"
                else served.confidence)
    np.testing.assert_allclose(batch.score, expected, rtol=0, atol=1e-15)
    # the model saw the drift: the missing spot sizes were imputed, the new class went "other"
    assert batch.flagged("missing")[:, 1][300:].sum() > 0


def test_a_model_that_cannot_predict_is_refused(files: dict[str, Path], tmp_path: Path) -> None:
    run = tmp_path / "served.yaml"
    run.write_text("model: {kind: none, artifacts_dir: nowhere}\n")
    schema = yaml.safe_load(files["schema"].read_text())
    schema["outputs"]["prediction"] = {"path": "p"}
    files["schema"].write_text(yaml.safe_dump(schema))
    with pytest.raises(ConfigError, match=r"source.file.predictions.model: .*served.yaml: "
                                          r"model.kind none cannot predict"):
        FileReplay(_config(files, predictions={"source": "model", "model": str(run)}))
    run.write_text("model: {kind: torchscript, artifacts_dir: nowhere, path: m.ts}\n")
    with pytest.raises(ConfigError, match=r"predictions.model: .*model.artifacts_dir"):
        FileReplay(_config(files, predictions={"source": "model", "model": str(run)}))


def test_the_embedded_replay_source_sends_the_file_events(files: dict[str, Path]) -> None:
    run = files["dir"] / "run.yaml"
    run.write_text(yaml.safe_dump({"source": {
        "kind": "replay", "dataset": "file", "topic": "mine", "partitions": 2,
        "file": {"path": str(files["rows"]), "schema": str(files["schema"])}}}))
    records = list(build_source(load_run_config(run), model=None))
    assert len(records) == N_ROWS and {r.topic for r in records} == {"mine"}
    for partition in (0, 1):
        offsets = [r.offset for r in records if r.partition == partition]
        assert offsets == list(range(len(offsets))) and offsets
    decoder = SchemaDecoder(load_schema(files["schema"]))
    event = decoder.decode(records[7].value, topic="mine", partition=0, offset=0)
    assert event.event_id == records[7].key.decode() and event.numeric.tolist() == [7.5]


def test_dataset_file_needs_its_section(tmp_path: Path) -> None:
    run = tmp_path / "run.yaml"
    run.write_text("source: {kind: replay, dataset: file}\n")
    with pytest.raises(ConfigError, match=r"source.file: is required with dataset: file"):
        load_run_config(run)


def test_the_embedded_replay_has_no_labels_topic(files: dict[str, Path]) -> None:
    schema = yaml.safe_load(files["schema"].read_text())
    schema["outputs"]["label"] = {"path": "y", "topic": "t.labels", "column": "label"}
    files["schema"].write_text(yaml.safe_dump(schema))
    run = files["dir"] / "run.yaml"
    source = {"kind": "replay", "dataset": "file",
              "file": {"path": str(files["rows"]), "schema": str(files["schema"])}}
    run.write_text(yaml.safe_dump({"source": source}))
    with pytest.raises(ConfigError, match=r"labels on the topic 't\.labels'"):
        build_source(load_run_config(run), model=None)
    source["file"]["labels"] = "none"
    run.write_text(yaml.safe_dump({"source": source}))
    assert len(list(build_source(load_run_config(run), model=None))) == N_ROWS
