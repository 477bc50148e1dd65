"""The worked examples of configs/examples/: their data are what river ships, their schemas fit
their data, their configs load, their commands run on the example data (profile,
train-classifier, check-model, replay), and the injected drift has the documented effect."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from scipy import stats

from driftline.dataloader.schema import load_schema
from driftline.executor.config import load_run_config
from driftline.executor.file_replay import FileReplay
from driftline.executor.schema_decoder import SchemaDecoder
from driftline.model.adapters.loading import load_model_adapter, load_reference
from driftline.model.profile_builder import ProfileOptions, build_profile
from driftline.utils.cli import main
from tests.configs.example_data import SOURCES, split_rows

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "configs" / "examples"
NAMES = sorted(p.name for p in EXAMPLES.iterdir() if p.is_dir())
#: rows of river's tables
ROWS = {"image_segments": 2310, "solar_flare": 1066}


def test_every_example_is_listed_with_its_files() -> None:
    assert NAMES == sorted(SOURCES) == ["image_segments", "solar_flare"]
    for name in NAMES:
        for file in ("README.md", "schema.yaml", "run.yaml", "kafka.yaml", "data/LICENSE",
                     "data/reference.csv.gz", "data/stream.csv.gz"):
            assert (EXAMPLES / name / file).is_file(), f"{name}/{file}"


@pytest.mark.parametrize("name", NAMES)
def test_the_data_are_rivers_rows_split_as_documented(name: str) -> None:
    for file, data in split_rows(name).items():
        assert (EXAMPLES / name / "data" / file).read_bytes() == data, f"{name}/data/{file}"


@pytest.mark.parametrize(("name", "schema"), [("image_segments", "schema.yaml"),
                                              ("solar_flare", "service/schema.yaml")])
@pytest.mark.parametrize("file", ["reference.csv.gz", "stream.csv.gz"])
def test_the_schema_fits_both_data_files(name: str, schema: str, file: str) -> None:
    # solar_flare's data keep river's unused columns (the other flare classes)
    _, report = build_profile(EXAMPLES / name / schema, EXAMPLES / name / "data" / file,
                              ProfileOptions(unknown_columns="error" if name != "solar_flare"
                                             else "ignore"))
    n_reference = SOURCES[name][1]
    assert report.n_rows == (n_reference if file == "reference.csv.gz"
                             else ROWS[name] - n_reference)


def test_the_service_schema_is_the_monitored_one_without_the_forecast() -> None:
    monitored = load_schema(EXAMPLES / "solar_flare" / "schema.yaml")
    service = load_schema(EXAMPLES / "solar_flare" / "service" / "schema.yaml")
    assert service.fields == monitored.fields
    assert (service.event_id, service.event_time) == (monitored.event_id, monitored.event_time)
    assert service.outputs.label == monitored.outputs.label
    assert service.outputs.prediction is None and monitored.outputs.prediction is not None


@pytest.mark.parametrize("name", NAMES)
def test_run_and_kafka_configs_monitor_the_same_way(name: str) -> None:
    run = load_run_config(EXAMPLES / name / "run.yaml", environ={})
    kafka = load_run_config(EXAMPLES / name / "kafka.yaml", environ={})
    assert (run.source.kind, run.source.dataset, kafka.source.kind) == ("replay", "file", "kafka")
    assert run.source.topic == kafka.source.topic == f"{name}.events"
    assert run.model == kafka.model
    assert run.detectors == kafka.detectors
    assert run.source.file is not None and run.source.file.drift is not None
    for path in (run.source.file.path, run.source.file.schema_path):
        assert (ROOT / path).is_file()


def _rewritten(config: Path, tmp: Path, **model: str) -> Path:
    """``config`` with its inputs made absolute and its outputs in ``tmp``."""
    data = yaml.safe_load(config.read_text())
    data["model"].update(model)
    file = data.get("source", {}).get("file")
    if file is not None:
        file["path"], file["schema"] = str(ROOT / file["path"]), str(ROOT / file["schema"])
    data.get("dead_letter", {}).pop("path", None)
    out = tmp / config.name
    out.write_text(yaml.safe_dump(data))
    return out


def _cli(*argv: str) -> None:
    assert main(list(argv)) == 0, argv


def _decoded(replay: FileReplay, profile: Any) -> Any:
    values = [event.value for event in replay.events()]
    return SchemaDecoder.from_profile(replay.schema, profile).decode_batch(
        values, topic="t", partition=0, offsets=list(range(len(values))))


def test_image_segments_commands_and_drift(tmp_path: Path) -> None:
    example = EXAMPLES / "image_segments"
    reference, stream = example / "data" / "reference.csv.gz", example / "data" / "stream.csv.gz"
    run = _rewritten(example / "run.yaml", tmp_path, artifacts_dir=str(tmp_path / "artifacts"),
                     path=str(tmp_path / "model.ts"))
    _cli("profile", "--schema", str(example / "schema.yaml"), "--reference", str(reference),
         "--output-dir", str(tmp_path / "artifacts"), "--progress", "none")
    _cli("train-classifier", "--config", str(run), "--reference", str(reference))  # as documented
    _cli("check-model", "--config", str(run), "--reference", str(stream))
    config = load_run_config(run)
    adapter = load_model_adapter(config.model)
    replay = FileReplay(config.source.file)  # type: ignore[arg-type]
    batch = _decoded(replay, adapter.profile)
    assert len(batch) == 1300 and batch.dead_letters == []
    change = replay.config.drift.change_point  # type: ignore[union-attr]
    correct = adapter.predict(batch).labels == batch.label
    # the documented effect: accuracy falls from about 0.95 to about 0.73 at dusk
    assert correct[:change].mean() > 0.9 and correct[change:].mean() < 0.8
    scaled = {i.field for i in replay.config.drift.injections}  # type: ignore[union-attr]
    rows, _ = _reference_columns(example, reference)
    for j, name in enumerate(batch.numeric_names):
        before = stats.ks_2samp(batch.numeric[:change, j], rows[name]).pvalue
        after = stats.ks_2samp(batch.numeric[change:, j], rows[name]).pvalue
        assert before > 1e-3, name  # the stream starts like the reference
        assert (after < 1e-6) if name in scaled else (after > 1e-3), name


def _reference_columns(example: Path, reference: Path) -> tuple[dict[str, np.ndarray], Any]:
    from driftline.dataloader.file_events import EventRows, read_event_rows

    rows = EventRows.concat(list(read_event_rows(reference, load_schema(
        example / "schema.yaml"))))
    return rows.numeric, rows


def test_solar_flare_commands_and_drift(tmp_path: Path) -> None:
    example = EXAMPLES / "solar_flare"
    reference = example / "data" / "reference.csv.gz"
    (tmp_path / "service").mkdir()
    service = _rewritten(example / "service" / "model.yaml", tmp_path / "service",
                         artifacts_dir=str(tmp_path / "service" / "artifacts"),
                         path=str(tmp_path / "service" / "model.ts"))
    _cli("profile", "--schema", str(example / "service" / "schema.yaml"), "--reference",
         str(reference), "--output-dir", str(tmp_path / "service" / "artifacts"),
         "--unknown-columns", "ignore", "--progress", "none")
    _cli("train-classifier", "--config", str(service), "--reference", str(reference),
         "--hidden-sizes", "16", "--epochs", "40")
    run_data = yaml.safe_load(_rewritten(example / "run.yaml", tmp_path,
                                         artifacts_dir=str(tmp_path / "artifacts")).read_text())
    run_data["source"]["file"]["predictions"]["model"] = str(service)
    run = tmp_path / "run.yaml"
    run.write_text(yaml.safe_dump(run_data))
    log = tmp_path / "reference-events.jsonl"
    _cli("replay", "--replay-config", str(run), "--file", str(reference), "--order", "file",
         "--no-drift", "--output", str(log))
    _cli("profile", "--schema", str(example / "schema.yaml"), "--reference", str(log),
         "--output-dir", str(tmp_path / "artifacts"), "--progress", "none")
    config = load_run_config(run)
    served_elsewhere = load_model_adapter(config.model)
    assert served_elsewhere.kind == "none" and served_elsewhere.class_names == ["no", "yes"]
    profile = load_reference(config.model)[2]
    assert profile.baseline_error_rate is not None
    replay = FileReplay(config.source.file)  # type: ignore[arg-type]
    batch = _decoded(replay, profile)
    assert len(batch) == 600 and batch.dead_letters == []
    assert (batch.prediction >= 0).all() and np.isfinite(batch.score).all()
    fields = batch.field_names
    missing = batch.flagged("missing")
    unseen = batch.flagged("unseen_category")
    # only the documented fields, only from their start
    assert np.flatnonzero(missing.any(axis=0)).tolist() == [fields.index("largest_spot_size")]
    assert not missing[:300].any() and stats.binomtest(
        int(missing[300:].sum()), 300, 0.25).pvalue > 1e-3
    assert np.flatnonzero(unseen.any(axis=0)).tolist() == [fields.index("zurich_class")]
    assert not unseen[:400].any() and stats.binomtest(
        int(unseen[400:].sum()), 200, 0.1).pvalue > 1e-3
    zurich = profile.categorical["zurich_class"]
    vocabulary = zurich.vocabulary()
    reference_counts = np.bincount([vocabulary.code(c)[0] for c in _flare_zurich(reference)],
                                   minlength=vocabulary.size)
    column = batch.categorical[:, batch.categorical_names.index("zurich_class")]
    for part, drifted in ((slice(0, 300), False), (slice(300, 400), True)):
        counts = np.bincount(column[part], minlength=vocabulary.size)
        keep = (counts + reference_counts) > 0
        p = stats.chi2_contingency(np.vstack([counts, reference_counts])[:, keep]).pvalue
        assert (p < 1e-6) if drifted else (p > 1e-3), (part, p)


def _flare_zurich(reference: Path) -> list[str]:
    import gzip

    lines = gzip.decompress(reference.read_bytes()).decode().splitlines()
    return [line.split(",")[0] for line in lines[1:]]


@pytest.mark.parametrize("name", NAMES)
def test_make_demo_runs_each_example(name: str) -> None:
    # under `make test` (CI) this make is recursive: keep it from printing directory lines
    dry = subprocess.run(["make", "--no-print-directory", "-n", "demo", f"EXAMPLE={name}"],
                         cwd=ROOT, capture_output=True, text=True, check=True).stdout
    driftline_lines = [line for line in dry.replace("\\\n", " ").splitlines()
                       if line.startswith(".venv/bin/driftline")]
    commands = [line.split()[1] for line in driftline_lines]
    assert commands[0] == "profile" and commands[-1] == "run"
    assert f"--config configs/examples/{name}/run.yaml" in driftline_lines[-1]
    readme = (EXAMPLES / name / "README.md").read_text()
    for line in dry.replace("\\\n", " ").splitlines():
        if line.startswith(".venv/bin/driftline"):  # the README shows the same commands
            assert " ".join(line.removeprefix(".venv/bin/").split()) in " ".join(
                readme.replace("\\\n", " ").split())


def test_make_demo_refuses_an_unknown_example() -> None:
    result = subprocess.run(["make", "demo", "EXAMPLE=nope"], cwd=ROOT, capture_output=True,
                            text=True, check=False)
    assert result.returncode != 0
    assert "unknown EXAMPLE=nope; the examples are: image_segments solar_flare" in result.stderr
