"""``driftline replay``: month parsing, topic creation, keys, labels, pacing, the CLI, and data
files replayed under a schema (to Kafka or a JSON Lines file)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from driftline.dataloader.insurance import load_months
from driftline.dataloader.schema import load_schema
from driftline.executor.decode import EventDecoder
from driftline.executor.replay import (
    ReplayEvent,
    insurance_events,
    parse_months,
    replay,
    replay_arguments,
    replay_main,
)
from driftline.executor.schema_decoder import SchemaDecoder
from tests.conftest import TansuBroker
from tests.executor.kafka_helpers import consume_all, partition_sizes, unique


@pytest.mark.parametrize(("text", "months"), [
    ("1-36", list(range(1, 37))), ("3", [3]), ("1-3,7", [1, 2, 3, 7]), (" 2 , 5-6 ", [2, 5, 6])])
def test_parse_months(text: str, months: list[int]) -> None:
    assert parse_months(text) == months


@pytest.mark.parametrize("text", ["0", "37", "5-2", "a", "1-x", "", ",", "1-40"])
def test_parse_months_rejects_bad_input(text: str) -> None:
    with pytest.raises(ValueError, match="month"):
        parse_months(text)


def test_insurance_events_follow_the_data() -> None:
    total, events = insurance_events([2])
    rows = list(events)
    data = load_months([2])
    assert total == len(rows) == len(data)
    assert [r.event_id for r in rows[:3]] == list(data.event_ids[:3])
    assert rows[5].features == dict(zip(data.feature_names, data.features[5].tolist(),
                                        strict=True))
    assert rows[5].label == int(data.group[5])


def test_rate_paces_the_sends(kafka_broker: TansuBroker) -> None:
    now = [100.0]
    waits: list[float] = []

    def sleep(seconds: float) -> None:  # a clock that only moves while sleeping
        waits.append(seconds)
        now[0] += seconds

    events = [ReplayEvent(f"e{i}", {"x": float(i)}, None, None) for i in range(5)]
    summary = replay(events, bootstrap_servers=kafka_broker.bootstrap_servers,
                     topic=unique("paced"), partitions=1, rate=250.0, progress=False,
                     sleep=sleep, clock=lambda: now[0])
    # Event i is due at i / rate: 4 ms between sends, none before the first.
    assert waits == pytest.approx([0.004] * 4)
    assert summary.n_sent == 5 and summary.seconds == pytest.approx(0.016)


def test_progress_in_a_log_is_one_line(kafka_broker: TansuBroker,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    topic = unique("logged")
    events = [ReplayEvent(f"e{i}", {"x": float(i)}, None, None) for i in range(300)]
    replay(events, bootstrap_servers=kafka_broker.bootstrap_servers, topic=topic, partitions=1,
           total=len(events))  # captured stderr: not a terminal
    err = capsys.readouterr().err
    assert "\r" not in err
    assert err.startswith(f"{topic}: 300/300 events in ") and err.count("\n") == 1


def test_replay_sends_keyed_decodable_events_to_a_new_topic(
        kafka_broker: TansuBroker, loaded_model: object) -> None:
    topic, labels = unique("replay"), unique("labels")
    total, events = insurance_events([1])
    summary = replay(events, bootstrap_servers=kafka_broker.bootstrap_servers, topic=topic,
                     partitions=3, labels="topic", labels_topic=labels, progress=False,
                     total=total)
    assert (summary.n_sent, summary.n_labels_sent, summary.created_topic) == (total, total, True)
    sizes = partition_sizes(kafka_broker.bootstrap_servers, topic, total)
    assert sorted(sizes) == [0, 1, 2]
    records = consume_all(kafka_broker.bootstrap_servers, topic, expected=total)
    decoder = EventDecoder(loaded_model.profile.feature_names)  # type: ignore[attr-defined]
    data = load_months([1])
    position = {event_id: i for i, event_id in enumerate(data.event_ids)}
    per_partition: dict[int, list[int]] = {}
    for record in records:
        event = decoder.decode(record.value, key=record.key, topic=topic,
                               partition=record.partition, offset=record.offset,
                               timestamp_ms=record.timestamp)
        assert record.key == event.event_id.encode()
        assert event.label is None  # labels went to their own topic
        assert event.features.tolist() == data.features[position[event.event_id]].tolist()
        per_partition.setdefault(record.partition, []).append(position[event.event_id])
    # Within a partition the events keep their stream order.
    assert all(order == sorted(order) for order in per_partition.values())
    label_records = consume_all(kafka_broker.bootstrap_servers, labels, expected=total)
    joined = {json.loads(r.value)["event_id"]: json.loads(r.value)["label"]
              for r in label_records}
    assert joined == {e: int(g) for e, g in zip(data.event_ids, data.group, strict=True)}


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    replay_arguments(parser)
    return parser.parse_args(list(argv))


def test_cli_replays_months_and_reports(kafka_broker: TansuBroker,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    topic = unique("cli")
    status = replay_main(_args("--bootstrap-servers", kafka_broker.bootstrap_servers,
                               "--topic", topic, "--months", "3", "--limit", "250",
                               "--partitions", "2", "--no-progress"))
    assert status == 0
    assert f"sent 250 events to {topic}" in capsys.readouterr().out
    assert sum(partition_sizes(kafka_broker.bootstrap_servers, topic, 250).values()) == 250


def test_cli_scenario_uses_the_model_features(kafka_broker: TansuBroker, artifacts_dir: Path,
                                              loaded_model: object) -> None:
    topic = unique("scenario")
    status = replay_main(_args("--bootstrap-servers", kafka_broker.bootstrap_servers,
                               "--topic", topic, "--scenario", "abrupt", "--seed", "3",
                               "--n-rows", "40", "--artifacts-dir", str(artifacts_dir),
                               "--no-progress"))
    assert status == 0
    decoder = EventDecoder(loaded_model.profile.feature_names)  # type: ignore[attr-defined]
    for record in consume_all(kafka_broker.bootstrap_servers, topic, expected=40):
        event = decoder.decode(record.value, topic=topic, partition=0, offset=0,
                               timestamp_ms=None)
        assert event.event_id.startswith("abrupt-3-"), event


def test_cli_errors_are_clear(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert replay_main(_args("--months", "1-3")) == 2
    assert "--topic is required" in capsys.readouterr().err
    assert replay_main(_args("--topic", "t", "--months", "0-3")) == 2
    assert "months" in capsys.readouterr().err
    assert replay_main(_args("--topic", "t", "--scenario", "abrupt", "--artifacts-dir",
                             str(tmp_path))) == 2
    assert "driftline train" in capsys.readouterr().err


def _file_run(tmp_path: Path, label_topic: str | None = None) -> Path:
    """A run config replaying a 40-row CSV under a nested schema (drift from row 30)."""
    label: dict[str, Any] = {"path": "truth"}
    if label_topic:
        label = {"path": "label", "topic": label_topic}
    (tmp_path / "schema.yaml").write_text(yaml.safe_dump({
        "fields": [{"name": "x", "path": "f.x", "type": "numeric"}],
        "outputs": {"classes": ["a", "b"], "label": {**label, "column": "y"}}}))
    (tmp_path / "rows.csv").write_text("x,y\n" + "".join(f"{i},{'ab'[i % 2]}\n"
                                                          for i in range(40)))
    (tmp_path / "other.csv").write_text("x,y\n1000,a\n")
    run = tmp_path / "run.yaml"
    run.write_text(yaml.safe_dump({"source": {"kind": "replay", "dataset": "file", "file": {
        "path": str(tmp_path / "rows.csv"), "schema": str(tmp_path / "schema.yaml"),
        "drift": {"change_point": 30, "injections": [
            {"kind": "numeric_shift", "field": "x", "shift": 100.0}]}}}}))
    return run


def _xs(path: Path) -> list[float]:
    return [json.loads(line)["f"]["x"] for line in path.read_text().splitlines()]


def test_cli_writes_file_events_to_json_lines(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    run, out = _file_run(tmp_path), tmp_path / "out" / "events.jsonl"
    assert replay_main(_args("--replay-config", str(run), "--output", str(out))) == 0
    assert capsys.readouterr().out == f"wrote 40 events to {out}\n"
    assert _xs(out) == [float(i) + (100.0 if i >= 30 else 0.0) for i in range(40)]
    assert json.loads(out.read_text().splitlines()[1])["truth"] == "b"
    assert replay_main(_args("--replay-config", str(run), "--no-drift", "--order", "shuffle",
                             "--output", str(out))) == 0
    assert sorted(_xs(out)) == [float(i) for i in range(40)] != _xs(out)
    assert replay_main(_args("--replay-config", str(run), "--file", str(tmp_path / "other.csv"),
                             "--limit", "5", "--output", str(out))) == 0
    assert _xs(out) == [1000.0]


def test_cli_file_replay_errors_are_one_line(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    run = _file_run(tmp_path)
    assert replay_main(_args("--months", "1", "--file", "x.csv", "--topic", "t")) == 2
    assert "--file, --order and --no-drift need --replay-config" in capsys.readouterr().err
    assert replay_main(_args("--replay-config", str(run), "--output", "events.csv")) == 2
    assert "must end in .jsonl or .ndjson" in capsys.readouterr().err
    plain = tmp_path / "plain.yaml"
    plain.write_text("source: {kind: replay}\n")
    assert replay_main(_args("--replay-config", str(plain), "--output", "e.jsonl")) == 2
    assert "has no source.file section" in capsys.readouterr().err
    assert replay_main(_args("--replay-config", str(run), "--file", "nope.csv",
                             "--output", str(tmp_path / "e.jsonl"))) == 2
    err = capsys.readouterr().err
    assert err.startswith("driftline replay: error: ") and "nope.csv: no such file" in err
    assert err.count("\n") == 1


def test_cli_sends_file_events_and_their_labels_to_kafka(kafka_broker: TansuBroker,
                                                         tmp_path: Path) -> None:
    topic, labels = unique("file"), unique("file-labels")
    run = _file_run(tmp_path, label_topic=labels)
    status = replay_main(_args("--bootstrap-servers", kafka_broker.bootstrap_servers,
                               "--topic", topic, "--replay-config", str(run),
                               "--partitions", "2", "--no-progress"))
    assert status == 0
    decoder = SchemaDecoder(load_schema(tmp_path / "schema.yaml"))
    got = {}
    for record in consume_all(kafka_broker.bootstrap_servers, topic, expected=40):
        event = decoder.decode(record.value, key=record.key, topic=topic,
                               partition=record.partition, offset=record.offset)
        assert record.key == event.event_id.encode() and event.label == -1
        got[event.event_id] = event.numeric[0]
    assert sorted(got.values()) == sorted(float(i) + (100.0 if i >= 30 else 0.0)
                                          for i in range(40))
    joined = dict(decoder.decode_label(r.value)
                  for r in consume_all(kafka_broker.bootstrap_servers, labels, expected=40))
    assert joined == {f"event-{i:07d}": i % 2 for i in range(40)}
