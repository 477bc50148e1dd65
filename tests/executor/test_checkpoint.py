"""CheckpointStore: atomic replace, round trip, and corrupt files ignored (cold start);
CheckpointWriter: background writes in order, a future per group of checkpoints."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import pytest

from driftline.executor.checkpoint import (
    Checkpoint,
    CheckpointStore,
    CheckpointWriter,
    dump_state,
    encode_state,
    load_state,
)

STATE = {"counters": {"n_processed": 1200}, "window": [0.5, 1.5, float("inf")], "name": "é"}


def test_round_trip_keeps_offset_and_state(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path / "ckpt")
    store.save("events", 3, 1200, STATE)
    loaded = store.load("events", 3)
    assert loaded == Checkpoint(1200, STATE)
    assert store.load("events", 2) is None
    assert store.load("other", 3) is None
    assert store.partitions() == [("events", 3)]


def test_save_replaces_the_previous_checkpoint(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path)
    store.save("events", 0, 10, {"v": 1})
    store.save("events", 0, 20, {"v": 2})
    assert store.load("events", 0) == Checkpoint(20, {"v": 2})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["events.0.ckpt"]


def test_a_failed_rename_leaves_the_old_checkpoint_and_no_temporary_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = CheckpointStore(tmp_path)
    store.save("events", 0, 10, {"v": 1})

    def refuse(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(OSError, match="No space"):
        store.save("events", 0, 20, {"v": 2})
    monkeypatch.undo()
    assert store.load("events", 0) == Checkpoint(10, {"v": 1})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["events.0.ckpt"]


def test_a_state_that_is_not_json_is_refused_before_touching_the_file(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path)
    store.save("events", 0, 10, {"v": 1})
    with pytest.raises(ValueError, match="JSON"):
        store.save("events", 0, 20, {"v": object()})
    assert store.load("events", 0) == Checkpoint(10, {"v": 1})


@pytest.mark.parametrize("offset", [-1, 1.5, True, "7"])
def test_bad_offsets_are_refused(tmp_path: Path, offset: object) -> None:
    with pytest.raises(ValueError, match="offset_next"):
        CheckpointStore(tmp_path).save("events", 0, offset, {})  # type: ignore[arg-type]


@pytest.mark.parametrize("topic", ["", "..", "a/b", "../escape", "sp ace", "x" * 250])
def test_topics_that_could_escape_the_directory_are_refused(tmp_path: Path, topic: str) -> None:
    with pytest.raises(ValueError, match="topic"):
        CheckpointStore(tmp_path).path(topic, 0)


def _corrupt(path: Path, how: str) -> None:
    raw = path.read_bytes()
    head, _, payload = raw.partition(b"\n")
    header = json.loads(head)
    if how == "truncated":
        path.write_bytes(raw[: len(raw) - 7])
    elif how == "flipped_byte":
        body = bytearray(payload)
        body[len(body) // 2] ^= 0x01
        path.write_bytes(head + b"\n" + bytes(body))
    elif how == "empty":
        path.write_bytes(b"")
    elif how == "garbage":
        path.write_bytes(b"\x00\xff garbage \n \xfe")
    elif how == "header_only":
        path.write_bytes(head)
    elif how == "other_partition":
        header["partition"] = 9
        path.write_bytes(json.dumps(header).encode() + b"\n" + payload)
    elif how == "future_format":
        header["format"] = 99
        path.write_bytes(json.dumps(header).encode() + b"\n" + payload)
    elif how == "negative_offset":
        header["offset"] = -5
        path.write_bytes(json.dumps(header).encode() + b"\n" + payload)
    elif how == "payload_not_object":
        new = b"[1, 2]"
        import hashlib
        header.update(length=len(new), sha256=hashlib.sha256(new).hexdigest())
        path.write_bytes(json.dumps(header).encode() + b"\n" + new)
    else:
        raise AssertionError(how)


@pytest.mark.parametrize("how", ["truncated", "flipped_byte", "empty", "garbage", "header_only",
                                 "other_partition", "future_format", "negative_offset",
                                 "payload_not_object"])
def test_corrupt_checkpoints_are_logged_and_ignored(
        tmp_path: Path, how: str, caplog: pytest.LogCaptureFixture) -> None:
    store = CheckpointStore(tmp_path)
    store.save("events", 1, 500, STATE)
    _corrupt(store.path("events", 1), how)
    with caplog.at_level(logging.WARNING, logger="driftline.checkpoint"):
        assert store.load("events", 1) is None
    assert any("starting cold" in r.getMessage() for r in caplog.records)
    # The next save repairs the partition.
    store.save("events", 1, 600, STATE)
    assert store.load("events", 1) == Checkpoint(600, STATE)


def test_an_unreadable_checkpoint_is_ignored(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path)
    store.path("events", 0).mkdir()  # reading a directory raises IsADirectoryError
    assert store.load("events", 0) is None


def test_delete_and_listing(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path)
    for topic, partition in [("b.topic", 2), ("a-topic", 10), ("a-topic", 1)]:
        store.save(topic, partition, 0, {})
    assert store.partitions() == [("a-topic", 1), ("a-topic", 10), ("b.topic", 2)]
    store.delete("a-topic", 10)
    store.delete("a-topic", 10)
    assert store.partitions() == [("a-topic", 1), ("b.topic", 2)]


@pytest.mark.parametrize("state", [
    {"window": [0.1, 1e-300, -2.5e300, 3], "nested": {"rows": [[1.0, 2.0], [3.5, None]]},
     "flags": [True, False], "name": "ks", "none": None},
    {"mean": float("nan"), "rows": [[1.0, float("inf")], [-float("inf"), 0.0]]},
    {"window": [1e308, 1e308]},  # the sum overflows: the exact encoder takes over
    {1: "int keys become strings", "x": [0.30000000000000004]},
])
def test_dump_state_means_what_json_means(state: dict) -> None:
    # NaN and infinity must come back as themselves, never as null.
    expected = json.loads(json.dumps(state))
    restored = load_state(dump_state(state))
    assert json.dumps(restored, sort_keys=True) == json.dumps(expected, sort_keys=True)


def test_a_state_with_nan_survives_a_checkpoint(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path)
    store.save("events", 0, 10, {"statistic": float("nan"), "window": [1.0, float("inf")]})
    checkpoint = store.load("events", 0)
    assert checkpoint is not None
    assert checkpoint.state["window"] == [1.0, float("inf")]
    assert checkpoint.state["statistic"] != checkpoint.state["statistic"]  # NaN


def test_the_writer_writes_in_order_in_the_background(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path)
    writer = CheckpointWriter(store)
    writer.write([("events", 0, 10, encode_state({"v": 1})), ("labels", 0, 7, b"{}")])
    writer.write([("events", 0, 20, encode_state({"v": 2}))])  # later: replaces the first
    writer.write([])
    writer.wait()
    assert store.load("events", 0) == Checkpoint(20, {"v": 2})
    assert store.load("labels", 0) == Checkpoint(7, {})
    writer.close()


def test_each_write_has_a_future_failed_by_its_first_failing_save(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path)
    writer = CheckpointWriter(store)
    # an illegal topic fails inside the background write, after the first checkpoint of it
    failed = writer.write([("events", 0, 5, b"{}"), ("../escape", 0, 5, b"{}"),
                           ("events", 1, 5, b"{}")])
    later = writer.write([("events", 2, 9, b"{}")])
    with pytest.raises(ValueError, match="topic"):
        failed.result(timeout=10)
    assert later.result(timeout=10) is None  # a failed group does not stop the next ones
    writer.close()
    assert store.load("events", 0) == Checkpoint(5, {})
    assert store.load("events", 1) is None  # after the failure: not attempted
    assert store.load("events", 2) == Checkpoint(9, {})


def test_a_directory_replaced_by_a_file_fails_the_write_and_keeps_nothing_half_written(
        tmp_path: Path) -> None:
    directory = tmp_path / "checkpoints"
    store = CheckpointStore(directory)
    store.save("events", 0, 10, {"v": 1})
    directory.rename(tmp_path / "moved")
    directory.write_text("not a directory")  # what chmod cannot do to root
    writer = CheckpointWriter(store)
    with pytest.raises(NotADirectoryError):
        writer.write([("events", 0, 20, encode_state({"v": 2}))]).result(timeout=10)
    directory.unlink()
    (tmp_path / "moved").rename(directory)
    assert store.load("events", 0) == Checkpoint(10, {"v": 1})
    writer.write([("events", 0, 20, encode_state({"v": 2}))]).result(timeout=10)
    assert store.load("events", 0) == Checkpoint(20, {"v": 2})
    writer.close()
