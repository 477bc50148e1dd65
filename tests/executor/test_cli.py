"""``driftline run``: config errors exit 2, the replay path prints the summary."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from driftline.configs import CONFIG_DIR
from driftline.utils.cli import main


def test_run_replay_prints_summary_and_writes_json(
    artifacts_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    out = tmp_path / "summary.json"
    status = main(["run", "--config", str(CONFIG_DIR / "demo.yaml"),
                   "--set", "source.months=[1, 36]",
                   "--set", f"model.artifacts_dir={artifacts_dir}",
                   "--set", "detectors.streams.input_vector=[]",
                   "--set", "source.poison_records=3",
                   "--summary-json", str(out)])
    assert status == 0
    text = capsys.readouterr().out
    assert "driftline run: 3000 events processed" in text
    assert "metrics: http://127.0.0.1:" in text
    data = json.loads(out.read_text())
    assert data["n_processed"] == 3000 and sum(data["dead_letters"].values()) == 3
    assert set(data["periods"]) == {"m01", "m36"}


def test_bad_config_exits_2_naming_the_key(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("batch: {max_rows: -1}\n")
    assert main(["run", "--config", str(path)]) == 2
    assert "batch.max_rows: must be >= 1" in capsys.readouterr().err


def test_missing_artifacts_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["run", "--config", str(CONFIG_DIR / "demo.yaml"),
                   "--set", f"model.artifacts_dir={tmp_path / 'none'}"])
    assert status == 2
    assert "run `driftline train` first" in capsys.readouterr().err


def test_bad_set_override_is_rejected() -> None:
    with pytest.raises(SystemExit, match="KEY=VALUE"):
        main(["run", "--config", str(CONFIG_DIR / "demo.yaml"), "--set", "nonsense"])


def test_a_replayed_file_that_does_not_fit_exits_2_in_one_line(
        artifacts_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from driftline.dataloader.insurance import DATA_DIR

    (tmp_path / "rows.csv").write_text("age,emergency_braking\n30,1\n")
    status = main(["run", "--config", str(CONFIG_DIR / "demo.yaml"),
                   "--set", f"model.artifacts_dir={artifacts_dir}",
                   "--set", "metrics.enabled=false", "--set", "source.dataset=file",
                   "--set", f"source.file={{path: {tmp_path / 'rows.csv'}, "
                            f"schema: {DATA_DIR / 'schema.yaml'}}}"])
    assert status == 2
    err = capsys.readouterr().err
    assert err.startswith("driftline run: source.file.path: ") and err.count("\n") == 1
    assert "column 'braking_distance' of field 'braking_distance' is missing" in err
