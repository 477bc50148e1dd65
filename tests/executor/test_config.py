"""RunConfig: the shipped configs load, bad values name their key, environment overrides."""

from __future__ import annotations

from pathlib import Path

import pytest

from driftline.configs import CONFIG_DIR, ConfigError
from driftline.executor.config import RunConfig, load_run_config
from driftline.executor.detectors_config import detector_series


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "run.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("name", ["demo.yaml", "kafka.yaml"])
def test_shipped_configs_load(name: str) -> None:
    config = load_run_config(CONFIG_DIR / name, environ={})
    assert isinstance(config, RunConfig)


def test_demo_replays_all_months_in_process() -> None:
    config = load_run_config(CONFIG_DIR / "demo.yaml", environ={})
    assert config.source.kind == "replay" and config.source.months == list(range(1, 37))
    assert config.metrics.host == "127.0.0.1"


def test_kafka_config_uses_the_kafka_source() -> None:
    config = load_run_config(CONFIG_DIR / "kafka.yaml", environ={})
    assert config.source.kind == "kafka" and config.source.topic


def test_defaults_from_empty_file(tmp_path: Path) -> None:
    config = load_run_config(write(tmp_path, ""), environ={})
    streams = config.detectors.streams
    assert [e.detector for e in streams.features] == ["incremental_ks", "page_hinkley"]
    assert [e.detector for e in streams.categories] == ["chi_square"]
    assert config.dead_letter.topic_suffix == ".dlt"


@pytest.mark.parametrize(("text", "message"), [
    ("source: {kind: mqtt}", "source.kind: Input should be 'replay' or 'kafka', got str 'mqtt'"),
    ("source: {months: [0, 3]}", "source.months[0]: must be >= 1, got 0"),
    ("source: {months: []}", "source.months: must name at least one month"),
    ("batch: {max_rows: 0}", "batch.max_rows: must be >= 1"),
    ("batch: {max_rows: 10.5}", "batch.max_rows: Input should be a valid integer, got float"),
    ("batch: {worker_process: 1}", "batch.worker_process: Input should be a valid boolean"),
    ("metrics: {port: 70000}", "metrics.port: must be <= 65535"),
    ("metrics: {port: '9108'}", "metrics.port: Input should be a valid integer, got str '9108'"),
    ("logging: {format: xml}", "logging.format: Input should be 'json' or 'text'"),
    ("sources: {}",
     "sources: unknown key (did you mean 'source'? allowed: alarms, batch, checkpoint,"),
    ("source: {heartbeat_interval_ms: 20000, session_timeout_ms: 10000}",
     "source.heartbeat_interval_ms: must be below session_timeout_ms (10000), got 20000"),
    ("- 1", "<top level>: expected a mapping, got list [1]"),
])
def test_bad_values_name_the_key(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_run_config(write(tmp_path, text), environ={})
    assert f"run.yaml: {message}" in str(info.value)


def streams(text: str) -> str:
    return f"detectors: {{streams: {{{text}}}}}"


@pytest.mark.parametrize(("text", "message"), [
    (streams("features: [{detector: page_hinkley, target_arl0: 1}]"),
     "detectors.streams.features[0].target_arl0: must be > 1.0"),
    (streams("input_vector: [{detector: nm_ddm, target_arl0: 400, params: {window_size: 500}}]"),
     "detectors.streams.input_vector[0].target_arl0: target_arl0 must be > 500.0, got 400.0"),
    (streams("errors: [{detector: kswin}]"),
     "detectors.streams.errors[0].detector: unknown detector 'kswin'; the registry has ["),
    (streams("errors: [{detector: page_hinkley}]"),
     "detectors.streams.errors[0].detector: page_hinkley takes ['real values'], the errors "
     "stream gives 0/1 errors"),
    (streams("features: [{detector: ddm}]"),
     "detectors.streams.features[0].detector: ddm calibrates by the 'fresh_streams' method, "
     "which the features stream cannot use"),
    (streams("features: [{detector: incremental_ks, params: {windowsize: 10}}]"),
     "detectors.streams.features[0].params.windowsize: not a parameter of incremental_ks (its "
     "parameters: window_size, alpha, reset_on_drift, seed)"),
    (streams("features: [{detector: incremental_ks, params: {window_size: 0}}]"),
     "detectors.streams.features[0].params.window_size: window_size must be >= 1, got 0"),
    (streams("features: [{detector: page_hinkley}, {detector: incremental_ks,"
             " params: {window_size: 2.5}}]"),
     "detectors.streams.features[1].params.window_size: window_size must be an integer, got "
     "float: 2.5"),
    (streams("features: [{detector: page_hinkley, params: {delta: fast}}]"),
     "detectors.streams.features[0].params.delta: delta must be a real number, got str: 'fast'"),
    (streams("features: [{detector: page_hinkley, params: {reference_mean: 0.0}}]"),
     "detectors.streams.features[0].params.reference_mean: is taken from the reference profile"),
    (streams("categories: [{detector: chi_square, params: {reference: [1, 2]}}]"),
     "detectors.streams.categories[0].params.reference: not a parameter of chi_square"),
    (streams("features: [{detector: incremental_ks, calibration: exact}]"),
     "detectors.streams.features[0].calibration: Input should be 'bound' or 'bootstrap'"),
    (streams("features: [{detector: incremental_ks, calibration: bootstrap, stride: 7,"
             " params: {window_size: 500}}]"),
     "detectors.streams.features[0].stride: must divide window_size=500, got 7"),
    (streams("features: [{detector: page_hinkley, method: ks_family}]"),
     "detectors.streams.features[0].method: page_hinkley declares the calibration methods "
     "['statistic_path', 'cusum', 'tail_extrapolation'], got 'ks_family'"),
    (streams("prediction: [{detector: page_hinkley}, {detector: page_hinkley}]"),
     "detectors.streams.prediction[1].detector: 'page_hinkley' is listed twice on the "
     "prediction stream"),
    (streams("features: 3"), "detectors.streams.features: Input should be a valid list"),
    (streams("feature: []"),
     "detectors.streams.feature: unknown key (did you mean 'features'? allowed: categories,"),
    (streams("features: [{detector: page_hinkley, target: 5}]"),
     "detectors.streams.features[0].target: unknown key (did you mean 'target_arl0'?"),
])
def test_bad_detector_entries_name_the_key(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_run_config(write(tmp_path, text), environ={})
    assert f"run.yaml: {message}" in str(info.value)


def test_listed_streams_replace_the_defaults(tmp_path: Path) -> None:
    config = load_run_config(write(tmp_path, streams(
        "errors: [{detector: adwin, target_arl0: 5000, params: {clock: 16}}]")), environ={})
    detectors = config.detectors
    assert detectors.streams.features == [] and detectors.streams.input_vector == []
    (entry,) = detectors.streams.errors
    assert (entry.detector, entry.target_arl0, entry.params) == ("adwin", 5000.0, {"clock": 16})


def test_detector_series_lists_every_series_of_a_run(tmp_path: Path) -> None:
    config = load_run_config(write(tmp_path, streams(
        "features: [{detector: incremental_ks, target_arl0: 9000}, {detector: page_hinkley}],"
        " input_vector: [{detector: nm_ddm}], categories: [{detector: chi_square}],"
        " errors: [{detector: ddm, target_arl0: 3000}]")), environ={})
    series = detector_series(config.detectors, {"features": ["age", "miles"],
                                                "categories": ["colour"]})
    assert series == [
        ("features", "incremental_ks", "age", 9000.0),
        ("features", "incremental_ks", "miles", 9000.0),
        ("features", "page_hinkley", "age", 20000.0),
        ("features", "page_hinkley", "miles", 20000.0),
        ("input_vector", "nm_ddm", "", 20000.0),
        ("categories", "chi_square", "colour", 20000.0),
        ("errors", "ddm", "", 3000.0),
    ]
    assert series[0].target_arl0 == 9000.0 and series[-1].stream == "errors"


def test_environment_overrides(tmp_path: Path) -> None:
    path = write(tmp_path, "source: {kind: kafka}\nmetrics: {port: 9100}\n")
    config = load_run_config(path, environ={"DRIFTLINE_KAFKA_BOOTSTRAP": "broker:29092",
                                            "DRIFTLINE_METRICS_HOST": "0.0.0.0",
                                            "DRIFTLINE_METRICS_PORT": "9200"})
    assert config.source.bootstrap_servers == "broker:29092"
    assert (config.metrics.host, config.metrics.port) == ("0.0.0.0", 9200)
    explicit = load_run_config(path, {"metrics.port": 9300},
                               environ={"DRIFTLINE_METRICS_PORT": "9200"})
    assert explicit.metrics.port == 9300


def test_bad_environment_port_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="DRIFTLINE_METRICS_PORT"):
        load_run_config(write(tmp_path, ""), environ={"DRIFTLINE_METRICS_PORT": "http"})


def test_every_problem_is_reported_on_its_own_line(tmp_path: Path) -> None:
    text = "batch: {max_rows: 0}\nmetrics: {port: -1}\nlogging: {level: LOUD}\n"
    with pytest.raises(ConfigError) as info:
        load_run_config(write(tmp_path, text), environ={})
    lines = str(info.value).splitlines()
    assert [line.split(": ")[1] for line in lines] == ["batch.max_rows", "metrics.port",
                                                        "logging.level"]
    assert all(line.startswith(str(tmp_path / "run.yaml")) for line in lines)


def test_assignment_is_validated() -> None:
    config = RunConfig()
    config.batch.worker_process = False
    entry = config.detectors.streams.features[0]
    entry.target_arl0 = 9000.0
    assert (config.batch.worker_process, entry.target_arl0) == (False, 9000.0)
    with pytest.raises(ValueError, match="greater than 1"):
        entry.target_arl0 = 0.5
    with pytest.raises(ValueError, match="unknown detector 'kswin'"):
        entry.detector = "kswin"
    assert (entry.target_arl0, entry.detector) == (9000.0, "incremental_ks")


@pytest.mark.parametrize(("text", "message"), [
    ("source: {topic: 'bad topic!'}",
     "source.topic: 'bad topic!' contains ' !'; Kafka topic names use only a-z A-Z 0-9 . _ -"),
    ("source: {topic: ''}", "source.topic: must not be empty"),
    ("source: {labels_topic: '..'}", "source.labels_topic: '..' is not a legal Kafka topic name"),
    ("source: {topic: t, labels_topic: t}", "source.labels_topic: must differ from topic ('t')"),
    ("outputs: {predictions_topic: 'p q'}", "outputs.predictions_topic: 'p q' contains ' '"),
    ("source: {topic: t}\noutputs: {predictions_topic: t}",
     "outputs.predictions_topic: must differ from source.topic ('t')"),
    ("dead_letter: {topic_suffix: ''}", "dead_letter.topic_suffix: must not be empty"),
    ("dead_letter: {topic_suffix: '/dlt'}", "dead_letter.topic_suffix: '/dlt' contains '/'"),
    (f"source: {{topic: {'t' * 246}}}",
     "dead_letter.topic_suffix: the dead-letter topic of source.topic would be 250 characters "
     "long; Kafka allows at most 249"),
    (f"source: {{topic: t, labels_topic: {'l' * 247}}}",
     "dead_letter.topic_suffix: the dead-letter topic of source.labels_topic would be 251 "
     "characters long"),
    ("source: {bootstrap_servers: ''}",
     "source.bootstrap_servers: must list at least one host:port"),
    ("source: {bootstrap_servers: 'a:9092,b'}",
     "source.bootstrap_servers: entry 2 ('b') is not host:port"),
    ("source: {bootstrap_servers: 'a:99999'}",
     "source.bootstrap_servers: entry 1 ('a:99999'): port must lie in [1, 65535]"),
])
def test_kafka_names_that_kafka_would_refuse_are_rejected(tmp_path: Path, text: str,
                                                           message: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_run_config(write(tmp_path, text), environ={})
    assert f"run.yaml: {message}" in str(info.value)


def test_long_topic_is_fine_without_dead_letters(tmp_path: Path) -> None:
    text = f"source: {{topic: {'t' * 249}}}\ndead_letter: {{enabled: false}}\n"
    assert load_run_config(write(tmp_path, text), environ={}).source.topic == "t" * 249


def test_bad_bootstrap_from_the_environment_names_the_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"source\.bootstrap_servers: must list at least one"):
        load_run_config(write(tmp_path, ""), environ={"DRIFTLINE_KAFKA_BOOTSTRAP": " "})


@pytest.mark.parametrize(("text", "message"), [
    ("checkpoint: {store: s3}", "checkpoint.store: Input should be 'directory' or 'kafka'"),
    ("checkpoint: {every_seconds: 0}", "checkpoint.every_seconds: must be > 0.0"),
    ("checkpoint: {changelog_topic: 'a b'}", "checkpoint.changelog_topic: 'a b' contains ' '"),
    ("checkpoint: {restore_timeout_s: -1}", "checkpoint.restore_timeout_s: must be > 0.0"),
    ("batch: {workers: 0}", "batch.workers: must be >= 1"),
])
def test_bad_scale_out_values_name_the_key(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_run_config(write(tmp_path, text), environ={})
    assert f"run.yaml: {message}" in str(info.value)


def test_scale_out_defaults_keep_one_machine(tmp_path: Path) -> None:
    config = load_run_config(write(tmp_path, ""), environ={})
    assert (config.checkpoint.store, config.batch.workers) == ("directory", None)
    config = load_run_config(write(tmp_path, "checkpoint: {store: kafka, every_seconds: 5}\n"
                                   "batch: {workers: 2}"), environ={})
    assert (config.checkpoint.store, config.checkpoint.every_seconds,
            config.batch.workers) == ("kafka", 5.0, 2)
